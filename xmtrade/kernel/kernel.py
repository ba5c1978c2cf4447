"""The compiled screening kernel: the three-horizon strategy and the HK broker in one numba
loop over precomputed arrays (xmtrade/kernel/precompute.py).

Each session, in the order the backtest runs it (xmtrade/broker.py, then
strategies/three_horizon.py): interest on the previous close's cash; the pre-opening check of
the planned entry; the margin check of the orders placed since the last bar; resting stops
and market exits matched, then the entry; the NAV at the close; then, on a trading session,
holding periods, the breaker, the risk lines and the P/S ceiling, tactical exits, the stops
(trailing while at stage 1), and the next tranche.

It returns status OK, or the code of a situation it does not mirror (with the session): the
caller then runs that combination in backtrader instead.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from xmtrade.kernel.arith import (
    ERROR,
    MICRO,
    cash_interest,
    fill_charges,
    round_down,
    round_up,
    shift,
    size_tranche,
    to_micro,
)

OK, TICK_ERROR, SIZE_ERROR, STOP_ERROR, TOO_MANY = 0, 1, 2, 3, 4
STATUS = {
    OK: "ok",
    TICK_ERROR: "a price off the spread table",
    SIZE_ERROR: "a sizing input the backtest rejects",
    STOP_ERROR: "a stop level the backtest cannot compute",
    TOO_MANY: "more live tranches than the kernel keeps",
}
SLOTS = 6  # 3 stages held, one planned, and exits on their way out
FREE, AWAITING, OPEN = 0, 1, 3
NO_STOP, STOP_RESTING = 0, 1
# exit reason codes (precompute.REASONS)
R_STOP, R_TRAIL, R_RSI, R_TIME, R_BREAKER, R_PS = 1, 2, 3, 4, 5, 6
RESET_AT_FIRE, RESET_NONE, RESET_AFTER = 0, 1, 2  # risk.drawdown_breaker.reset
GAP_SKIP, GAP_REANCHOR, GAP_KEEP = 0, 1, 2
# columns of the trades array
T_STAGE, T_ENTRY_J, T_SHARES, T_EXIT_J, T_REASON, T_FEES = 0, 1, 2, 3, 4, 5
T_ENTRY_PRICE, T_EXIT_PRICE, T_INITIAL_STOP, T_STOP, T_NAV_AT_ENTRY = 0, 1, 2, 3, 4


@njit(cache=True)
def run_kernel(
    opn: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
    no_trading: np.ndarray, ordinal: np.ndarray, table_today: np.ndarray,
    table_next: np.ndarray, regime_today: np.ndarray, regime_next: np.ndarray,
    lower: np.ndarray, upper: np.ndarray, tick: np.ndarray, bands: np.ndarray,
    rates: np.ndarray, per_trade: np.ndarray, minimum: np.ndarray, maximum: np.ndarray,
    modes: np.ndarray, cash_rate: np.ndarray, days: np.ndarray,
    entry_signal: np.ndarray, overbought: np.ndarray, stop_level: np.ndarray,
    streak: np.ndarray, action: np.ndarray, line_demand: np.ndarray,
    line_reason: np.ndarray, report: np.ndarray, usable_from: np.ndarray,
    ps_above: np.ndarray, iparams: np.ndarray, fparams: np.ndarray,
    nav_out: np.ndarray, trades_i: np.ndarray, trades_f: np.ndarray,
) -> tuple[int, int, int]:  # fmt: skip
    """Run the strategy over the window; fills `nav_out` and the trade rows.

    Returns (status, session of the status, trades written)."""
    slip = iparams[0]
    lot = iparams[1]
    max_stage = min(iparams[2], 3)
    core_passes = iparams[3]
    full_passes = iparams[4]
    add_on_report = iparams[5] == 1
    min_gap = iparams[6]
    one_step = iparams[7] == 1
    gap_rule = iparams[8]
    breaker_on = iparams[9] == 1
    cooldown = iparams[10]
    basis_nav = iparams[11] == 1
    rsi_exit = iparams[12] == 1
    max_hold = iparams[13]  # -1: no limit
    trailing = iparams[14] == 1
    reset_mode = iparams[15]  # RESET_AT_FIRE, RESET_NONE, RESET_AFTER
    reset_sessions = iparams[16]
    targets = fparams[0:3]
    cap = fparams[3]
    risk_pct = fparams[4]
    max_dd = fparams[5]
    cash = fparams[6]

    n = opn.shape[0]
    state = np.zeros(SLOTS, dtype=np.int64)
    stage = np.zeros(SLOTS, dtype=np.int64)
    shares = np.zeros(SLOTS, dtype=np.int64)
    planned_stop = np.zeros(SLOTS, dtype=np.int64)  # micro
    planned_entry = np.zeros(SLOTS, dtype=np.int64)
    planned_shares = np.zeros(SLOTS, dtype=np.int64)
    target = np.zeros(SLOTS, dtype=np.float64)
    nav_at_entry = np.zeros(SLOTS, dtype=np.float64)
    stop_price = np.zeros(SLOTS, dtype=np.float64)
    initial_stop = np.zeros(SLOTS, dtype=np.float64)
    stop_order = np.zeros(SLOTS, dtype=np.int64)
    stop_new = np.zeros(SLOTS, dtype=np.bool_)  # placed at the last close (margin check)
    exit_reason = np.full(SLOTS, -1, dtype=np.int64)  # a market exit is working
    exit_new = np.zeros(SLOTS, dtype=np.bool_)
    held_for = np.zeros(SLOTS, dtype=np.int64)
    step_report = np.full(SLOTS, -1, dtype=np.int64)
    created = np.zeros(SLOTS, dtype=np.int64)  # creation order
    row = np.full(SLOTS, -1, dtype=np.int64)  # trade row of an open tranche
    position = 0
    peak = cash
    cooldown_until = -1
    reset_at = -1  # the breaker's pending reset of its peak (after_sessions)
    standing = False  # the breaker fired and still stands (none, after_sessions)
    tripped = False
    last_decision = 0
    last_opened = -(10**9)
    last_step = -2
    next_id = 1
    rows = 0
    n_live = 0  # tranches not FREE

    for j in range(n):
        today_t = table_today[j]
        g = regime_today[j]
        # ---- broker: interest on the previous close's cash
        if j > 0:
            cash += cash_interest(cash, cash_rate[j], days[j])
        # ---- the pre-opening check of the planned entries
        buy_slot = -1
        if n_live > 0 and not no_trading[j]:
            o = opn[j]
            o_m = to_micro(o)
            cash_now = cash
            for s in range(SLOTS):
                if state[s] != AWAITING:
                    continue
                state[s] = FREE  # awaiting no more: bought now, or dropped
                n_live -= 1
                hit = False
                for h in range(SLOTS):
                    if (state[h] == OPEN and exit_reason[h] < 0 and stop_order[h] != NO_STOP
                            and o <= stop_price[h]):  # fmt: skip
                        hit = True
                if hit:
                    continue
                stop_m = planned_stop[s]
                gap = -1 if o > stop_m / MICRO else gap_rule
                if gap == GAP_SKIP:
                    continue
                if gap == GAP_REANCHOR:
                    raw = o_m - (planned_entry[s] - planned_stop[s])
                    stop_m = 0 if raw <= 0 else round_down(raw, today_t, lower, upper, tick, bands)
                    if stop_m == ERROR:
                        return TICK_ERROR, j, rows
                entry_m = shift(round_up(o_m, today_t, lower, upper, tick, bands), today_t,
                                slip, lower, upper, tick, bands)  # fmt: skip
                exit_m = 0
                if stop_m > 0:
                    exit_m = shift(stop_m, today_t, -slip, lower, upper, tick, bands)
                if entry_m == ERROR or exit_m == ERROR:
                    return TICK_ERROR, j, rows
                nav_at_entry[s] = cash_now + position * o
                by_weight, sized = size_tranche(
                    nav_at_entry[s], position, o, entry_m, exit_m, target[s], cap,
                    risk_pct, lot, g, rates, per_trade, minimum, maximum, modes,
                )  # fmt: skip
                if sized < 0:
                    return SIZE_ERROR, j, rows
                allowed = by_weight if gap == GAP_KEEP else sized
                buy = min(planned_shares[s], allowed)
                if buy <= 0:
                    continue
                planned_stop[s] = stop_m
                planned_shares[s] = buy
                state[s] = AWAITING  # ordered: matched below
                n_live += 1
                buy_slot = s
        # ---- margin check of the orders submitted since the last bar (pseudo-execution)
        if buy_slot >= 0:
            pseudo = cash
            for s in range(SLOTS):
                if state[s] != OPEN:
                    continue
                if exit_new[s] or stop_new[s]:
                    price = opn[j] if exit_new[s] else stop_price[s]
                    value = shares[s] * price
                    pseudo += (
                        value
                        - fill_charges(
                            to_micro(value), g, rates, per_trade, minimum, maximum, modes
                        )
                        / 100
                    )
            value = planned_shares[buy_slot] * opn[j]
            pseudo -= value + fill_charges(to_micro(value), g, rates, per_trade,
                                           minimum, maximum, modes) / 100  # fmt: skip
            if pseudo < 0.0:
                state[buy_slot] = FREE
                n_live -= 1
                buy_slot = -1
        for s in range(SLOTS if n_live > 0 else 0):
            stop_new[s] = False
            exit_new[s] = False
        # ---- matching: stops and market exits, then the entry
        if n_live > 0 and not no_trading[j]:
            o = opn[j]
            for s in range(SLOTS):
                if state[s] != OPEN:
                    continue
                fill = -1.0
                reason = -1
                if exit_reason[s] >= 0:
                    fill = _sell_fill(o, low[j], today_t, slip, lower, upper, tick, bands)
                    reason = exit_reason[s]
                elif stop_order[s] != NO_STOP:
                    trigger = -1.0
                    if o <= stop_price[s]:
                        trigger = o
                    elif low[j] <= stop_price[s]:
                        trigger = stop_price[s]
                    if trigger >= 0:
                        fill = _sell_fill(trigger, low[j], today_t, slip, lower, upper, tick,
                                          bands)  # fmt: skip
                        reason = R_TRAIL if stop_price[s] > initial_stop[s] else R_STOP
                if reason < 0:
                    continue
                if fill < 0:
                    return TICK_ERROR, j, rows
                value = fill * shares[s]
                fees = fill_charges(to_micro(value), g, rates, per_trade, minimum,
                                    maximum, modes)  # fmt: skip
                cash += value - fees / 100
                position -= shares[s]
                r = row[s]
                trades_i[r, T_EXIT_J] = j
                trades_i[r, T_REASON] = reason
                trades_i[r, T_FEES] += fees
                trades_f[r, T_EXIT_PRICE] = fill
                trades_f[r, T_STOP] = stop_price[s]
                state[s] = FREE
                n_live -= 1
            if buy_slot >= 0:
                s = buy_slot
                up = round_up(to_micro(o), today_t, lower, upper, tick, bands)
                slipped = shift(up, today_t, slip, lower, upper, tick, bands)
                if slipped == ERROR:
                    return TICK_ERROR, j, rows
                fill = min(slipped / MICRO, max(high[j], o))
                value = fill * planned_shares[s]
                fees = fill_charges(to_micro(value), g, rates, per_trade, minimum,
                                    maximum, modes)  # fmt: skip
                if cash - value - fees / 100 < 0.0:
                    state[s] = FREE  # Margin: the entry is not filled
                    n_live -= 1
                else:
                    cash -= value + fees / 100
                    position += planned_shares[s]
                    state[s] = OPEN
                    shares[s] = planned_shares[s]
                    stop_price[s] = planned_stop[s] / MICRO
                    initial_stop[s] = stop_price[s]
                    stop_order[s] = NO_STOP
                    exit_reason[s] = -1
                    held_for[s] = 0
                    if step_report[s] >= 0:
                        last_step = step_report[s]
                    row[s] = rows
                    trades_i[rows, T_STAGE] = stage[s]
                    trades_i[rows, T_ENTRY_J] = j
                    trades_i[rows, T_SHARES] = shares[s]
                    trades_i[rows, T_EXIT_J] = -1
                    trades_i[rows, T_REASON] = 0
                    trades_i[rows, T_FEES] = fees
                    trades_f[rows, T_ENTRY_PRICE] = fill
                    trades_f[rows, T_EXIT_PRICE] = np.nan
                    trades_f[rows, T_INITIAL_STOP] = stop_price[s]
                    trades_f[rows, T_STOP] = stop_price[s]
                    trades_f[rows, T_NAV_AT_ENTRY] = nav_at_entry[s]
                    rows += 1
        nav = cash + position * close[j]
        nav_out[j] = nav
        # ---- the strategy after the close
        if nav > peak:
            peak = nav
        if no_trading[j]:
            continue
        # ---- the drawdown breaker, at every close, flat or not (risk/breaker.py)
        if breaker_on:
            if reset_at >= 0 and j >= reset_at:
                peak = nav
                reset_at = -1
                standing = False
            base = peak if basis_nav else peak * cap / 100
            loss = peak - nav
            tripped = loss >= base * max_dd / 100 and loss > 0
            if tripped and not standing:
                cooldown_until = j + cooldown
                if reset_mode == RESET_AT_FIRE:
                    peak = nav
                else:
                    standing = True
                    if reset_mode == RESET_AFTER:
                        reset_at = j + reset_sessions
            elif not tripped:
                standing = False
        next_t = table_next[j]
        live = False
        for s in range(SLOTS if n_live > 0 else 0):
            if state[s] != FREE:
                live = True
            if state[s] == OPEN:
                held_for[s] += 1
        if live:
            # portfolio demands
            held_any = False
            top = 0
            for s in range(SLOTS):
                if state[s] == OPEN and exit_reason[s] < 0:
                    held_any = True
                    top = max(top, stage[s])
            demand = 0  # 3 exit, 2 trim
            why = -1
            if held_any:
                if tripped:
                    demand, why = 3, R_BREAKER
                if demand == 0 and line_demand[j] == 3:
                    demand, why = 3, line_reason[j]
                if demand == 0 and top >= 2:
                    if line_demand[j] == 2:
                        demand, why = 2, line_reason[j]
                    elif ps_above[j]:
                        demand, why = 2, R_PS
            if demand > 0:
                for s in range(SLOTS):
                    if state[s] == OPEN and exit_reason[s] < 0 and (demand == 3 or stage[s] >= 2):
                        _sell(s, why, stop_order, exit_reason, exit_new)
            # the held tranches: tactical exits and stops
            top = 0
            for s in range(SLOTS):
                if state[s] == OPEN and exit_reason[s] < 0:
                    top = max(top, stage[s])
            tactical = top == 1
            for s in range(SLOTS):
                if not (state[s] == OPEN and exit_reason[s] < 0):
                    continue
                if tactical:
                    if rsi_exit and overbought[j]:
                        _sell(s, R_RSI, stop_order, exit_reason, exit_new)
                        continue
                    if max_hold >= 0 and held_for[s] >= max_hold:
                        _sell(s, R_TIME, stop_order, exit_reason, exit_new)
                        continue
                current = stop_price[s]
                wanted_m = round_down(to_micro(current), next_t, lower, upper, tick,
                                      bands)  # fmt: skip
                if wanted_m == ERROR:
                    return TICK_ERROR, j, rows
                if tactical and trailing:
                    if stop_level[j] < 0:
                        return STOP_ERROR, j, rows
                    if stop_level[j] > wanted_m:
                        wanted_m = stop_level[j]
                wanted = wanted_m / MICRO
                if stop_order[s] != NO_STOP and wanted == current:
                    continue
                if stop_order[s] == NO_STOP:  # a new order (a moved one is not checked again)
                    stop_new[s] = True
                stop_order[s] = STOP_RESTING
                stop_price[s] = wanted
        # ---- the next tranche
        signal = entry_signal[j]
        taken1 = taken2 = taken3 = False
        for s in range(SLOTS if n_live > 0 else 0):
            if state[s] == OPEN and exit_reason[s] < 0:
                if stage[s] == 1:
                    taken1 = True
                elif stage[s] == 2:
                    taken2 = True
                else:
                    taken3 = True
        opening = 0
        if not taken1:
            opening = 1
        elif max_stage >= 2 and not taken2:
            opening = 2
        elif max_stage >= 3 and not taken3:
            opening = 3
        if add_on_report:
            trigger = usable_from[j] >= 0 and usable_from[j] > last_decision
        else:
            trigger = signal
        last_decision = ordinal[j]
        if opening == 0 or (opening == 1 and not signal):
            continue
        if opening > 1:
            needed = core_passes if opening == 2 else full_passes
            if streak[j] < needed or not trigger:
                continue
            if one_step and report[j] >= 0 and report[j] == last_step:
                continue
            if ps_above[j]:
                continue
            if j - last_opened < min_gap:
                continue
        blocked = False
        for s in range(SLOTS if n_live > 0 else 0):
            if state[s] == AWAITING or (state[s] == OPEN and exit_reason[s] >= 0):
                blocked = True
        if blocked or tripped or j <= cooldown_until:
            continue
        if action[j] != 0 and not (action[j] == 2 and opening == 1):
            continue
        if stop_level[j] < 0:
            return STOP_ERROR, j, rows
        c_m = to_micro(close[j])
        entry_m = shift(round_up(c_m, next_t, lower, upper, tick, bands), next_t, slip, lower,
                        upper, tick, bands)  # fmt: skip
        exit_m = shift(stop_level[j], next_t, -slip, lower, upper, tick, bands)
        if entry_m == ERROR or exit_m == ERROR:
            return TICK_ERROR, j, rows
        highest = opening
        for s in range(SLOTS):
            if state[s] == OPEN and exit_reason[s] < 0:
                highest = max(highest, stage[s])
        weight = targets[highest - 1]
        _, sized = size_tranche(
            nav, position, close[j], entry_m, exit_m, weight, cap, risk_pct, lot,
            regime_next[j], rates, per_trade, minimum, maximum, modes,
        )  # fmt: skip
        if sized < 0:
            return SIZE_ERROR, j, rows
        if sized == 0:
            continue
        slot = -1
        for s in range(SLOTS):
            if state[s] == FREE:
                slot = s
                break
        if slot < 0:
            return TOO_MANY, j, rows
        state[slot] = AWAITING
        n_live += 1
        stage[slot] = opening
        planned_stop[slot] = stop_level[j]
        planned_entry[slot] = entry_m
        planned_shares[slot] = sized
        target[slot] = weight
        step_report[slot] = -1 if opening == 1 else report[j]
        created[slot] = next_id
        next_id += 1
        last_opened = j
    for s in range(SLOTS):
        if state[s] == OPEN:
            trades_f[row[s], T_STOP] = stop_price[s]
    return OK, n, rows


@njit(cache=True)
def _sell_fill(price: float, low: float, t: int, slip: int, lower: np.ndarray,
               upper: np.ndarray, tick: np.ndarray, bands: np.ndarray) -> float:  # fmt: skip
    """A sell at `price`: rounded down, `slip` ticks worse, never below the bar's low
    (twin: `HkBroker._slip_down`); -1 on a tick error."""
    down = round_down(to_micro(price), t, lower, upper, tick, bands)
    slipped = shift(down, t, -slip, lower, upper, tick, bands)
    if slipped == ERROR:
        return -1.0
    return max(slipped / MICRO, min(low, price))


@njit(cache=True)
def _sell(s: int, reason: int, stop_order: np.ndarray, exit_reason: np.ndarray,
          exit_new: np.ndarray) -> None:  # fmt: skip
    stop_order[s] = NO_STOP
    exit_reason[s] = reason
    exit_new[s] = True
