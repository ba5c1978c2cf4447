"""`xmtrade paper serve`: the live desk, a read-only page of every account on the ledger."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
from typing import Any

from xmtrade.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
TOKEN_ENV = "XMTRADE_DESK_TOKEN"


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `paper serve` to the `paper` sub-verbs."""
    serve = sub.add_parser(
        "serve",
        parents=[common],
        help="a live read-only page of every paper account (positions, stops, orders, NAV)",
        description="Serve the paper desk: a read-only page of every account on the ledger "
        "(positions and stops with their distance, working orders, today's decisions and the "
        "orders not filled, NAV against buy and hold, fills and fees, staleness and the next "
        "run) that redraws itself after each step. It binds 127.0.0.1 unless --host says "
        "otherwise; any other address needs a token.",
    )
    serve.add_argument(
        "--account",
        action="append",
        metavar="NAME",
        help="show this account (repeat for more; default: every account of the ledger)",
    )
    serve.add_argument(
        "--db",
        metavar="URL",
        help="ledger: a file path or a SQLAlchemy URL (default: DATA_DIR/paper.sqlite)",
    )
    serve.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST})"
    )
    serve.add_argument(
        "--port", default=str(DEFAULT_PORT), help=f"port to listen on (default: {DEFAULT_PORT})"
    )
    serve.add_argument(
        "--token",
        metavar="T",
        help=f"require this token on every request (default: ${TOKEN_ENV}); needed for any "
        "address but loopback",
    )
    serve.set_defaults(handler=run_serve)


def parse_port(text: str) -> int:
    """`--port`: 1 to 65535 (0 lets the system choose one)."""
    try:
        port = int(text.strip())
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigError(
            "command line", "--port", f"expected a port number from 1 to 65535, got {text!r}"
        )
    return port


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a one-line error naming the option."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError("command line", "--host", f"cannot resolve {host!r}: {exc}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            "command line", "--port", f"cannot listen on {host} port {port}: {exc.strerror}"
        ) from None
    sock.set_inheritable(True)
    return sock


def run_serve(args: argparse.Namespace) -> int:
    """Check the options, open the ledger read-only, then serve until Ctrl-C or SIGTERM."""
    import uvicorn

    from xmtrade.commands.config import load_from_args
    from xmtrade.home import resolve_data_dir
    from xmtrade.paper.desk import open_read_only, select_accounts
    from xmtrade.paper.ledger import check_account_name, default_target
    from xmtrade.paper.serve import desk_app

    port = parse_port(args.port)
    host = args.host.strip()
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV)
    if token is not None and not token.strip():
        raise ConfigError("command line", "--token", "expected a token, got an empty one")
    if token is None and not is_loopback(host):
        raise ConfigError(
            "command line",
            "--token",
            f"the desk on {host} would be open to the network: give --token T (or set "
            f"${TOKEN_ENV}), or serve on 127.0.0.1",
        )
    names = [check_account_name(n) for n in args.account or []]
    cfg = load_from_args(args)
    data_dir = resolve_data_dir(args.data_dir)
    ledger = open_read_only(args.db if args.db is not None else default_target(data_dir))
    accounts = select_accounts(ledger, names)
    app = desk_app(ledger, names, cfg.paper.schedule, token=token)
    sock = bind(host, port)
    shown_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    bound = sock.getsockname()[1]
    which = ", ".join(a.name for a in accounts) if names else "every account"
    print(
        f"serving the paper desk ({which}) of {ledger.where}, read-only, on "
        f"http://{shown_host}:{bound}/" + (" (token required)" if token else "") + "; Ctrl-C stops",
        flush=True,
    )
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    try:
        app.state.desk.snapshot()  # the first read (configs, calendars) before the first visitor
        server.run(sockets=[sock])
    finally:
        sock.close()
        ledger.dispose()
    print("xmtrade: the desk stopped", file=sys.stderr)
    return 0
