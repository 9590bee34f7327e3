"""The PostgreSQL tests' set-up: where the programs are found, and that a missing PostgreSQL fails under CI=true."""

from __future__ import annotations

from pathlib import Path

import database_support
import pytest
from database_support import PG_BIN_ENV, find_postgres_bin, postgres_cluster_or_skip


def test_pg_bin_names_the_programs_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("initdb", "pg_ctl", "postgres"):
        (tmp_path / name).write_text("")
    monkeypatch.setenv(PG_BIN_ENV, str(tmp_path))
    assert find_postgres_bin() == tmp_path
    (tmp_path / "pg_ctl").unlink()  # an incomplete folder is passed over
    assert find_postgres_bin() != tmp_path


@pytest.mark.parametrize(("ci", "outcome"), [("", pytest.skip.Exception), ("true", pytest.fail.Exception)])
def test_missing_postgresql_skips_with_the_reason_but_fails_in_ci(monkeypatch: pytest.MonkeyPatch, ci: str,
                                                                  outcome: type[BaseException]) -> None:
    monkeypatch.setattr(database_support, "find_postgres_bin", lambda: None)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="PostgreSQL is not installed.*make test"):
        next(postgres_cluster_or_skip())
