"""The live desk's web application (Starlette, served by uvicorn): the page, two JSON
endpoints and plotly.js from the installed plotly package.

- `GET /` the page; `GET /api/state` the desk's fingerprint (cheap: the page polls it);
  `GET /api/desk` every account's snapshot (xmtrade/paper/desk.py);
  `GET /static/plotly.min.js` plotly's own bundle, so the page needs no network.
- A token, when set, is required on every request: `Authorization: Bearer T`, or `?token=T`
  once (which sets an HttpOnly cookie for the page's own requests). Without it: 401.
- Nothing here writes: the ledger is opened read-only by the caller."""

from __future__ import annotations

import hmac
import json
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from xmtrade.config import PaperScheduleConfig
from xmtrade.errors import UserInputError
from xmtrade.paper.desk import desk_snapshot, fingerprint
from xmtrade.paper.desk_page import desk_page
from xmtrade.paper.ledger import Ledger

COOKIE = "xmtrade_desk"
SNAPSHOT_SECONDS = 30.0  # a snapshot is reused while the ledger has not moved, this long at most

Clock = Callable[[], datetime]


def plotly_js() -> Path:
    """plotly.min.js as the installed plotly package ships it."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"{path} (the plotly package is incomplete)")
    return path


class _Desk:
    """The snapshot cache: read again when the fingerprint moves or it is old."""

    def __init__(
        self,
        ledger: Ledger,
        names: Sequence[str],
        schedule: PaperScheduleConfig,
        clock: Clock | None,
    ) -> None:
        self.ledger, self.names, self.schedule, self.clock = ledger, list(names), schedule, clock
        self._lock = threading.Lock()
        self._cached: tuple[str, float, bytes] | None = None

    def state(self) -> dict[str, Any]:
        """The fingerprint the page polls."""
        return {"fingerprint": fingerprint(self.ledger, self.names)}

    def snapshot(self) -> bytes:
        """The desk's JSON (read again when a step has committed, or after a while)."""
        with self._lock:
            mark = fingerprint(self.ledger, self.names)
            cached = self._cached
            if cached and cached[0] == mark and time.monotonic() - cached[1] < SNAPSHOT_SECONDS:
                return cached[2]
            now = self.clock() if self.clock is not None else None
            snap = desk_snapshot(self.ledger, self.names, self.schedule, now)
            body = _json(snap)
            self._cached = (snap["fingerprint"], time.monotonic(), body)
            return body


def _json(value: Any) -> bytes:
    from plotly.utils import PlotlyJSONEncoder

    return json.dumps(value, cls=PlotlyJSONEncoder, separators=(",", ":")).encode()


class _TokenGate(BaseHTTPMiddleware):
    """401 for any request without the token (header, cookie, or `?token=` that sets it)."""

    def __init__(self, app: Any, token: str) -> None:
        super().__init__(app)
        self.token = token

    def _matches(self, offered: str | None) -> bool:
        return offered is not None and hmac.compare_digest(offered.encode(), self.token.encode())

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        header = request.headers.get("authorization", "")
        bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
        query = request.query_params.get("token")
        if self._matches(bearer) or self._matches(request.cookies.get(COOKIE)):
            return await call_next(request)
        if self._matches(query):
            response = await call_next(request)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            return response
        return JSONResponse(
            {
                "error": "this desk needs its token: open it with ?token=... or send "
                "'Authorization: Bearer ...'"
            },
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )


def desk_app(
    ledger: Ledger,
    names: Sequence[str],
    schedule: PaperScheduleConfig,
    token: str | None = None,
    clock: Clock | None = None,
) -> Starlette:
    """The desk's application over a read-only `ledger` (the accounts `names`, or all)."""
    desk = _Desk(ledger, names, schedule, clock)
    script = plotly_js()
    title = "xmtrade paper desk"

    def page(request: Request) -> Response:
        return HTMLResponse(desk_page(title), headers={"Cache-Control": "no-store"})

    def state(request: Request) -> Response:
        try:
            return JSONResponse(desk.state(), headers={"Cache-Control": "no-store"})
        except UserInputError as exc:
            return JSONResponse({"error": exc.line()}, status_code=503)

    def snapshot(request: Request) -> Response:
        try:
            body = desk.snapshot()
        except UserInputError as exc:
            return JSONResponse({"error": exc.line()}, status_code=503)
        return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})

    def plotly(request: Request) -> Response:
        return FileResponse(
            script, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"}
        )

    routes = [
        Route("/", page),
        Route("/api/state", state),
        Route("/api/desk", snapshot),
        Route("/static/plotly.min.js", plotly),
    ]
    middleware = [Middleware(_TokenGate, token=token)] if token else []
    middleware.append(Middleware(GZipMiddleware, minimum_size=2048))
    app = Starlette(routes=routes, middleware=middleware)
    app.state.desk = desk
    return app
