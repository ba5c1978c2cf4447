"""The live desk on a PostgreSQL ledger (the server the suite starts on 127.0.0.1, see
test_paper_postgres.py): every transaction of the desk is read-only, an open read of the desk
does not hold up a step's commit, and the real desk answers every read while a step runs
beside it in another process."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from serve_support import (
    FIRST_ASOF,
    NEXT_ASOF,
    DeskProcess,
    make_data_dir,
    poll_beside,
    step_process,
)
from test_paper_postgres import db, postgres_url  # noqa: F401  (the server's fixtures)

from xmtrade.paper.desk import open_read_only

pytestmark = pytest.mark.slow


def test_the_desk_reads_postgresql_read_only_beside_a_step(
    db: str,  # noqa: F811
    tmp_path: Path,
    shared_cache_file: Path,
) -> None:
    import sqlalchemy as sa

    data_dir = make_data_dir(tmp_path / "data", shared_cache_file, db=db)
    ledger = open_read_only(db)
    try:
        with (
            ledger.engine.connect() as conn,
            pytest.raises(sa.exc.SQLAlchemyError, match=r"read-only transaction"),
        ):
            conn.exec_driver_sql("DELETE FROM paper_runs")
        # a read transaction of the desk stays open while a step in another process commits
        with ledger.engine.connect() as conn, conn.begin():
            before = conn.exec_driver_sql("SELECT max(date) FROM paper_equity").scalar()
            step = step_process(data_dir, NEXT_ASOF, db=db)
            _, err = step.communicate(timeout=300)
            assert step.returncode == 0, err
        assert str(before) == FIRST_ASOF
        assert ledger.account("qs").last_session.isoformat() == NEXT_ASOF  # type: ignore[union-attr]
    finally:
        ledger.dispose()

    desk = DeskProcess("--data-dir", str(data_dir), "--db", db)
    try:
        step = step_process(data_dir, "2025-11-07", db=db)
        reads, answered, err = poll_beside(desk, step)
        assert step.returncode == 0, err
        assert reads >= 1 and answered == reads
        status, answer = desk.get("api/desk")
        [qs] = answer["accounts"]
        assert status == 200 and qs["performance"]["date"] == "2025-11-07"
        assert qs["today"]["decisions"] and qs["orders"]
        code, err = desk.stop(signal.SIGTERM)
        assert code == 143, err
    finally:
        desk.close()
