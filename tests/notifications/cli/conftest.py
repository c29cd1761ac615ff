"""Runs `python manage.py notification ...` as a subprocess against this test's PostgreSQL database.

The subprocess sees committed rows only, so tests using `cli` are transactional. It runs with
CELERY_TASK_ALWAYS_EAGER=true: a delivery queued by `event emit` or `delivery retry` is sent inside
that same CLI process when its transaction commits, so the round trip needs no broker or worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.worker import database_url

ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error: ")]


@pytest.fixture
def cli(transactional_db: None, require_postgres: None, tmp_path: Path) -> Callable[..., CliResult]:
    from django.db import connection

    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(connection.settings_dict),
        "DATA_DIR": str(tmp_path / "data"),
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "PYTHONUNBUFFERED": "1",
    }

    def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> CliResult:
        completed = subprocess.run(
            [sys.executable, "manage.py", "notification", *args],
            cwd=ROOT,
            env={**environment, **(env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return CliResult(completed.returncode, completed.stdout, completed.stderr)

    return run
