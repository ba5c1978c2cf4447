"""What a run shows a trader: the fuller statistics of summary.json (`stats`), the tables in
the terminal (`terminal`), the self-contained report.html pages (`page`, `run_page`,
`sweep_page`) and `xmtrade compare` (`compare`).

Only the light `parse_formats` lives here, so that the command line stays quick to start."""

from __future__ import annotations

from xmtrade.errors import ConfigError

FORMATS = ("html", "png")
DEFAULT_FORMATS = "html,png"


def parse_formats(text: str, option: str = "--report") -> frozenset[str]:
    """`html,png`, `html`, `png` or `none` as the set of report formats to write."""
    parts = [p.strip().lower() for p in (text or "").split(",") if p.strip()]
    if parts == ["none"]:
        return frozenset()
    bad = [p for p in parts if p not in FORMATS]
    if not parts or bad:
        shown = repr(bad[0]) if bad else "nothing"
        raise ConfigError(
            "command line",
            option,
            f"expected html, png, html,png or none, got {shown}",
        )
    return frozenset(parts)


def add_report_option(parser: object, default: str = DEFAULT_FORMATS) -> None:
    """The `--report` option of every verb that writes a run folder."""
    parser.add_argument(  # type: ignore[attr-defined]
        "--report",
        default=default,
        metavar="FORMATS",
        help="which reports to write: html (report.html), png (the charts), both "
        f"comma-separated, or none for the data files alone (default: {default})",
    )
