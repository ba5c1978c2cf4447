"""The live desk's one page: the report's style (xmtrade/reports/page.py), plotly.js from the
server's own static route (nothing fetched from elsewhere: the page works offline), and a
script that polls the desk's fingerprint and redraws the accounts in place when a step has
committed (tables rebuilt, the chart updated with `Plotly.react`, no reload)."""

from __future__ import annotations

from xmtrade.reports.page import PLOT_CONFIG, STYLE, esc

POLL_SECONDS = 3
REFRESH_SECONDS = 60  # staleness and the next run move with the clock: read again anyway

DESK_STYLE = """
nav.accounts { display: flex; flex-wrap: wrap; gap: 6px; margin: 10px 0 0; }
nav.accounts a { background: #374151; color: #f9fafb; border-radius: 4px; padding: 2px 8px;
  font-size: 13px; text-decoration: none; }
nav.accounts a.stale { background: #b91c1c; }
#live { font-size: 12px; color: #d1d5db; }
#live.down { color: #fca5a5; font-weight: 600; }
#problem { display: none; }
#problem.shown { display: block; }
article.account { margin: 18px 0 28px; }
article.account > h2 { font-size: 19px; margin: 8px 0 4px; }
article.account > .meta { font-size: 12px; color: #6b7280; margin-bottom: 6px; }
.cards .card { min-width: 150px; flex: 1 1 150px; }
.card .value { font-size: 17px; }
tr.missed td { background: #fff7ed; }
tr.near td.stop { color: #b91c1c; font-weight: 600; }
td.empty { color: #6b7280; text-align: left; font-style: italic; }
.tag { display: inline-block; font-size: 11px; border-radius: 3px; padding: 0 5px;
  background: #e5e7eb; }
.tag.missed { background: #fed7aa; }
.tag.fill { background: #bbf7d0; }
@media (max-width: 600px) {
  main { padding: 8px 8px 30px; }
  header { padding: 10px 12px; }
  section { padding: 8px 8px; }
  .cards .card { min-width: 120px; flex: 1 1 40%; }
  .card .value { font-size: 17px; }
}
"""

DESK_SCRIPT = """
(function () {
  var POLL = %(poll)d * 1000, REFRESH = %(refresh)d * 1000, CONFIG = %(config)s;
  var shown = null, lastRead = 0, busy = false, articles = {};
  window.deskUpdates = 0;
  function esc(v) {
    if (v === null || v === undefined) { return ''; }
    return String(v).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }
  function money(v) {
    if (v === null || v === undefined) { return ''; }
    var s = Math.abs(v).toLocaleString('en-US',
      {minimumFractionDigits: 2, maximumFractionDigits: 2});
    return (v < 0 ? '-' : '') + 'HK$' + s;
  }
  function signed(v) { return v === null || v === undefined ? '' : (v < 0 ? '' : '+') + money(v); }
  function pct(v, digits) {
    if (v === null || v === undefined) { return ''; }
    return (v * 100).toFixed(digits === undefined ? 2 : digits) + '%%';
  }
  function num(v) { return v === null || v === undefined ? '' : Number(v).toLocaleString('en-US'); }
  function price(v) { return v === null || v === undefined ? '' : String(+Number(v).toFixed(4)); }
  function tone(v) { return v === null || v === undefined ? '' : (v < 0 ? 'bad' : 'good'); }
  function card(label, value, sub, cls) {
    return '<div class="card ' + (cls || '') + '"><div class="label">' + esc(label) +
      '</div><div class="value">' + value + '</div><div class="sub">' + esc(sub || '') +
      '</div></div>';
  }
  function table(id, heads, rows, empty) {
    var h = heads.map(function (c) {
      return '<th class="' + (c.text ? 'text' : '') + '">' + esc(c.name) + '</th>';
    }).join('');
    var body = rows.length ? rows.join('') :
      '<tr><td class="empty" colspan="' + heads.length + '">' + esc(empty) + '</td></tr>';
    return '<table id="' + id + '"><thead><tr>' + h + '</tr></thead><tbody>' + body +
      '</tbody></table>';
  }
  function section(title, body, cls) {
    return '<section class="' + (cls || '') + '"><h2>' + esc(title) + '</h2>' + body + '</section>';
  }
  function numbers(n) {
    return Object.keys(n || {}).map(function (k) { return k.replace(/_/g, ' ') + ' ' + n[k]; })
      .join(', ');
  }
  function cards(a) {
    var p = a.performance, f = a.freshness, out = [];
    out.push(card('NAV', money(p.nav), p.change === undefined ? 'no session yet' :
      pct(p.change) + ' since ' + a.start, tone(p.change)));
    if (p.hold_change !== undefined) {
      out.push(card('against buy and hold', (p.against_hold_pp >= 0 ? '+' : '') +
        p.against_hold_pp.toFixed(2) + ' pp', 'buy and hold ' + pct(p.hold_change),
        tone(p.against_hold_pp)));
      out.push(card('drawdown', pct(p.drawdown), 'stage ' + p.stage + ' (' + p.stage_name + ')'));
      out.push(card('position', num(p.shares) + ' shares', money(p.position_value) + ', ' +
        pct(p.weight) + ' of NAV; cash ' + money(p.cash)));
    }
    out.push(card('realised P&L', signed(p.realised), p.closed_tranches + ' tranches closed',
      tone(p.realised)));
    out.push(card('fees', money(p.fees), p.fills + ' fills'));
    out.push(card('last bar', esc(f.last_bar || 'none'), f.line, f.stale ? 'warn' : ''));
    out.push(card('next run', esc(a.next_run.at ? a.next_run.line.split(' (')[0] : 'none'),
      a.next_run.line));
    return '<div class="cards">' + out.join('') + '</div>';
  }
  function positions(a) {
    var rows = a.positions.map(function (t) {
      var near = t.to_stop_pct !== null && t.to_stop_pct < 3;
      var dist = t.to_stop_pct === null ? 'no stop' : (t.stop_triggered ?
        'at or above the close: sells at the next open' : t.to_stop_pct.toFixed(2) + '%% below');
      return '<tr class="' + (near ? 'near' : '') + '"><td>' + t.tranche + '</td><td>' +
        num(t.shares) + '</td><td>' + price(t.close) + '</td><td class="stop">' +
        price(t.stop) + '</td><td class="stop">' + esc(dist) + '</td><td class="' +
        tone(t.unrealised) + '">' + signed(t.unrealised) + '</td><td>' + t.stage + '</td><td>' +
        price(t.entry_price) + '</td><td>' + esc(t.entry_date) + '</td><td>' +
        price(t.initial_stop) + '</td><td>' + t.sessions_held + '</td></tr>';
    });
    // what a trader checks first comes first (on a phone the rest scrolls sideways)
    var heads = ['tranche', 'shares', 'close', 'stop', 'distance to the stop', 'unrealised',
      'stage', 'entry', 'since', 'initial stop', 'sessions'].map(function (n) {
      return {name: n};
    });
    return table('positions-' + a.name, heads, rows, 'no tranche held');
  }
  function orders(a) {
    var rows = a.orders.map(function (o) {
      return '<tr><td>' + o.tranche + '</td><td>' + o.stage + '</td><td class="text">' +
        esc(o.kind) + '</td><td class="text">' + esc(o.side) + '</td><td>' + num(o.shares) +
        '</td><td class="text">' + (o.price === null ? 'at the open' : 'stop ' + price(o.price)) +
        '</td><td class="text">' + esc(o.reason) + '</td></tr>';
    });
    var heads = [{name: 'tranche'}, {name: 'stage'}, {name: 'kind', text: 1},
      {name: 'side', text: 1}, {name: 'shares'}, {name: 'price', text: 1},
      {name: 'reason', text: 1}];
    var after = a.orders.length ? ' (after ' + a.orders[0].as_of + ')' : '';
    return section('working orders' + after, table('orders-' + a.name, heads, rows,
      'no working order'));
  }
  function missedRow(m) {
    return '<tr class="missed"><td>' + esc(m.session) + '</td><td>' + esc(m.tranche) +
      '</td><td>' + esc(m.stage) + '</td><td class="text"><span class="tag missed">' +
      esc(m.words) + '</span></td><td>' + (m.shares ? esc(m.side) + ' ' + num(m.shares) : '') +
      '</td><td>' + price(m.reference_price) + '</td><td>' + price(m.planned_stop) +
      '</td><td class="text">' + esc(m.detail) + '</td></tr>';
  }
  var MISSED_HEADS = [{name: 'session'}, {name: 'tranche'}, {name: 'stage'},
    {name: 'what', text: 1}, {name: 'shares'}, {name: 'close decided at'},
    {name: 'planned stop'}, {name: 'why', text: 1}];
  function today(a) {
    var d = a.today;
    if (!d.date) { return section('today', '<p class="note">no session processed yet</p>'); }
    var items = d.fills.map(function (f) {
      return '<li><span class="tag fill">fill</span> ' + esc(f.text) + '</li>';
    }).concat(d.decisions.map(function (x) {
      return '<li>' + esc(x.text) + '</li>';
    }));
    var body = items.length ? '<ul id="today-' + esc(a.name) + '">' + items.join('') + '</ul>' :
      '<p class="note">no fill and no decision on this session</p>';
    body += '<h3 style="font-size:14px">orders not filled on ' + esc(d.date) + '</h3>' +
      table('today-missed-' + a.name, MISSED_HEADS, d.not_filled.map(missedRow),
        'none: every order of this session was filled as decided');
    return section('today: ' + d.date, body);
  }
  function missed(a) {
    var more = a.not_filled_count > a.not_filled.length ?
      ' (the latest ' + a.not_filled.length + ' of ' + a.not_filled_count + ')' : '';
    return section('orders not filled' + more, '<div class="scroll">' +
      table('missed-' + a.name, MISSED_HEADS, a.not_filled.map(missedRow),
        'none since the start') + '</div>');
  }
  function fills(a) {
    var rows = a.fills.map(function (f) {
      return '<tr><td>' + esc(f.date) + '</td><td>' + f.tranche + '</td><td>' + f.stage +
        '</td><td class="text">' + esc(f.side) + '</td><td class="text">' + esc(f.kind) +
        '</td><td>' + num(f.shares) + '</td><td>' + price(f.price) + '</td><td>' +
        money(f.value) + '</td><td>' + money(f.fees) + '</td><td class="text">' +
        esc(f.reason) + '</td></tr>';
    });
    var heads = ['date', 'tranche', 'stage', 'side', 'kind', 'shares', 'price', 'value',
      'fees', 'reason'].map(function (n, i) { return {name: n, text: [3, 4, 9].indexOf(i) >= 0}; });
    return section('fills and fees (' + a.performance.fills + ', ' + money(a.performance.fees) +
      ' in fees)', '<div class="scroll">' + table('fills-' + a.name, heads, rows, 'no fill yet') +
      '</div>');
  }
  function runs(a) {
    var rows = a.runs.map(function (r) {
      var span = r.first_session ? (r.first_session === r.last_session ? r.first_session :
        r.first_session + ' .. ' + r.last_session) : '';
      return '<tr><td class="text">' + esc(r.finished_at) + '</td><td class="text">' +
        esc(r.trigger) + '</td><td class="text">' + esc(r.outcome) + (r.stale ? ' (stale)' : '') +
        '</td><td>' + r.sessions_processed + '</td><td class="text">' + esc(span) +
        '</td><td class="text">' + esc((r.notes || []).join('; ')) + '</td></tr>';
    });
    var heads = [{name: 'finished', text: 1}, {name: 'trigger', text: 1},
      {name: 'outcome', text: 1}, {name: 'sessions'}, {name: 'span', text: 1},
      {name: 'notes', text: 1}];
    var lines = Object.keys(a.lines).sort().map(function (k) {
      return k + ' ' + a.lines[k];
    }).join(', ');
    return section('runs', table('runs-' + a.name, heads, rows, 'no run yet') +
      '<p class="note">risk lines: ' + esc(lines || 'none') + '; next scheduled run: ' +
      esc(a.next_run.line) + '</p>');
  }
  function article(a) {
    var el = articles[a.name];
    if (!el) {
      el = document.createElement('article');
      el.className = 'account';
      el.dataset.account = a.name;
      el.innerHTML = '<h2></h2><div class="meta"></div><div class="cards-slot"></div>' +
        '<section><h2>NAV against buy and hold</h2><div class="plot nav-plot"></div></section>' +
        '<section><h2>positions and stops</h2><div class="positions-slot"></div></section>' +
        '<div class="rest"></div>';
      document.getElementById('accounts').appendChild(el);
      articles[a.name] = el;
    }
    return el;
  }
  function overview(desk) {
    var rows = desk.accounts.map(function (a) {
      var p = a.performance, f = a.freshness, last = a.runs.length ? a.runs[0] : null;
      return '<tr><td class="text"><a href="#account-' + esc(a.name) + '">' + esc(a.name) +
        '</a></td><td class="' + (f.stale ? 'bad' : '') + '">' + esc(f.last_bar || 'none') +
        (f.stale ? ' (stale)' : '') + '</td><td>' + money(p.nav) + '</td><td class="' +
        tone(p.change) + '">' + pct(p.change) + '</td><td class="' + tone(p.against_hold_pp) +
        '">' + (p.against_hold_pp === undefined ? '' : p.against_hold_pp.toFixed(2) + ' pp') +
        '</td><td>' + pct(p.weight) + '</td><td>' + a.positions.length + '</td><td>' +
        a.orders.length + '</td><td>' + a.today.not_filled.length + '</td><td class="text">' +
        esc(last ? last.outcome + ' ' + last.finished_at : 'none') + '</td></tr>';
    });
    var heads = [{name: 'account', text: 1}, {name: 'last bar'}, {name: 'NAV'},
      {name: 'since the start'}, {name: 'against buy and hold'}, {name: 'weight'},
      {name: 'tranches'}, {name: 'working orders'}, {name: 'not filled today'},
      {name: 'last run', text: 1}];
    return '<h2>accounts</h2>' + table('overview-table', heads, rows, 'no account yet');
  }
  function draw(desk) {
    var seen = {};
    document.getElementById('overview').innerHTML = overview(desk);
    document.getElementById('ledger').textContent = desk.ledger;
    var links = desk.accounts.map(function (a) {
      return '<a href="#account-' + esc(a.name) + '" class="' +
        (a.freshness.stale ? 'stale' : '') + '">' + esc(a.name) + '</a>';
    });
    document.getElementById('account-links').innerHTML = links.join('');
    if (!desk.accounts.length) {
      document.getElementById('accounts').innerHTML =
        '<p class="note">no account on this ledger yet: xmtrade paper init</p>';
      articles = {};
    }
    desk.accounts.forEach(function (a) {
      seen[a.name] = true;
      var el = article(a);
      el.id = 'account-' + a.name;
      el.dataset.version = a.version;
      el.querySelector('h2').textContent = 'paper account ' + a.name + ' (' + a.symbol + ')';
      el.querySelector('.meta').textContent = 'from ' + a.start + ' with ' +
        money(a.initial_cash) + '; ' + a.sessions_processed + ' sessions processed; config ' +
        a.config_hash;
      el.querySelector('.cards-slot').innerHTML = cards(a);
      el.querySelector('.positions-slot').innerHTML = positions(a);
      el.querySelector('.rest').innerHTML = '<div class="grid2"><div>' + orders(a) +
        '</div><div>' + runs(a) + '</div></div>' + today(a) + missed(a) + fills(a);
      var plot = el.querySelector('.nav-plot');
      plot.id = 'nav-plot-' + a.name;
      // a phone: the legend under the chart, no mode bar over the linear / log switch
      var narrow = window.innerWidth < 600, layout = Object.assign({}, a.chart.layout);
      if (narrow) {
        layout.legend = {orientation: 'h', x: 0, y: -0.12, yanchor: 'top'};
        layout.margin = {l: 44, r: 8, t: 40, b: 30};
      }
      Plotly.react(plot, a.chart.data, layout,
        Object.assign({}, CONFIG, {displayModeBar: !narrow}));
    });
    Object.keys(articles).forEach(function (name) {
      if (!seen[name]) { articles[name].remove(); delete articles[name]; }
    });
    if (shown === null && location.hash) {  // a link to one account: there once it is drawn
      var target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
      if (target) { target.scrollIntoView(); }
    }
    // the page may have grown a scroll bar since the charts took their width
    requestAnimationFrame(function () {
      document.querySelectorAll('.nav-plot').forEach(function (p) { Plotly.Plots.resize(p); });
    });
    shown = desk.fingerprint;
    document.body.dataset.fingerprint = desk.fingerprint;
    window.deskUpdates += 1;
  }
  function live(text, down) {
    var el = document.getElementById('live');
    el.textContent = text;
    el.className = down ? 'down' : '';
    var problem = document.getElementById('problem');
    problem.className = down ? 'warn shown' : '';
    problem.textContent = down ? text : '';
  }
  function get(path) {
    return fetch(path, {credentials: 'same-origin', cache: 'no-store'}).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) { throw new Error(body.error || ('HTTP ' + r.status)); }
        return body;
      });
    });
  }
  function poll() {
    if (busy) { return; }
    busy = true;
    get('api/state').then(function (state) {
      if (state.fingerprint === shown && Date.now() - lastRead < REFRESH) {
        return null;
      }
      return get('api/desk').then(function (desk) { lastRead = Date.now(); draw(desk); });
    }).then(function () {
      live('live: checked ' + new Date().toLocaleTimeString() + ', every ' + POLL / 1000 + ' s');
    }).catch(function (err) {
      live('the desk cannot read the ledger: ' + err.message + ' (retrying)', true);
    }).then(function () { busy = false; });
  }
  poll();
  setInterval(poll, POLL);
})();
"""


def desk_page(title: str) -> str:
    """The HTML of the desk (its data arrives from `api/desk`)."""
    import json

    script = DESK_SCRIPT % {
        "poll": POLL_SECONDS,
        "refresh": REFRESH_SECONDS,
        "config": json.dumps(PLOT_CONFIG),
    }
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{esc(title)}</title><link rel="icon" href="data:,">'
        f"<style>{STYLE}{DESK_STYLE}</style>"
        '<script src="static/plotly.min.js"></script></head><body>'
        f'<header><h1>{esc(title)}</h1><p>ledger <span id="ledger"></span> (read-only) '
        '<span id="live">connecting</span></p><nav class="accounts" id="account-links"></nav>'
        '</header><main><section id="problem"></section><section id="overview"></section>'
        '<div id="accounts"></div></main>'
        f"<script>{script}</script></body></html>\n"
    )
