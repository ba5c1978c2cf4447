"""Paper trading: the backtest's strategy run every session on a ledger kept in SQL.

Each `paper step` replays the account's frozen input record (the price history stored at
`init`, plus every bar it has processed, plus the new bars) through `xmtrade.backtest`, checks
that the replay reproduces the ledger's history exactly, and writes the new sessions in one
transaction. Nothing here is imported by `xmtrade --help`: the modules import SQLAlchemy and
APScheduler at the top and are imported only by the `paper` verbs.
"""
