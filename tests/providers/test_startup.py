"""Start-up: the `notification.init` span and exactly one status log line per process start.

The process tests start real processes (a web process importing config.wsgi, a Celery worker with a
prefork pool) against the test database and count the line in their output.
"""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from providers.startup import STATUS_MESSAGE, notification_startup
from tests.providers.factories import SmtpProviderFactory
from tests.support.otel import attributes, spans_named

ROOT = Path(django_settings.BASE_DIR)
PASSWORD = "startup-pw-0a9b"


def status_records(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.getMessage() == STATUS_MESSAGE]


@pytest.mark.django_db
def test_without_provider(span_exporter, caplog):
    caplog.set_level(logging.INFO, logger="providers.startup")

    status = notification_startup(component="web")

    assert status.smtp_provider_configured is False
    [span] = spans_named(span_exporter, "notification.init")
    assert attributes(span) == {"smtp_provider_configured": False}
    [record] = status_records(caplog)
    assert record.smtp_provider_configured is False
    assert not hasattr(record, "smtp_provider_id")


@pytest.mark.django_db
def test_with_provider(span_exporter, caplog):
    caplog.set_level(logging.INFO, logger="providers.startup")
    provider = SmtpProviderFactory(secrets={"username": "u", "password": PASSWORD})

    status = notification_startup(component="worker")

    assert status.smtp_provider_id == provider.pk
    [span] = spans_named(span_exporter, "notification.init")
    assert attributes(span) == {"smtp_provider_configured": True, "smtp_provider_id": str(provider.pk)}
    [record] = status_records(caplog)
    assert (record.smtp_provider_configured, record.smtp_provider_id) == (True, str(provider.pk))
    assert PASSWORD not in caplog.text


def process_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("CELERY_", "DATABASE_URL"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=database_url,
        DATA_DIR=str(tmp_path),
        LOG_LEVEL="INFO",
        PYTHONWARNINGS="ignore",
    )
    return env


def current_database_url() -> str:
    """The URL of the test database this process uses, for the processes a test starts."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_web_process(env: dict[str, str]) -> str:
    completed = subprocess.run(
        [sys.executable, "-c", "import config.wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout + completed.stderr


def start_worker_until_ready(env: dict[str, str]) -> str:
    """Starts `celery -A config worker` with a two-child prefork pool and returns its output once it is ready."""
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork", "--concurrency", "2"),
            *("--loglevel", "INFO", "--without-mingle", "--without-gossip", "--without-heartbeat"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in worker.stdout:
            lines.append(line)
            if " ready." in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(timeout=45), "worker did not become ready:\n" + "".join(lines)
        # Let the pool children finish their own start-up, so a line they logged would be caught.
        time.sleep(1)
    finally:
        # The worker holds no task and no database connection: stop its process group at once
        # rather than wait for the filesystem broker's slow warm shutdown.
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
        reader.join(timeout=5)
    return "".join(lines)


def status_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if STATUS_MESSAGE in line]


@pytest.mark.django_db(transaction=True)
def test_web_process_logs_the_status_once_without_and_with_provider(require_postgres, tmp_path):
    env = process_env(tmp_path, current_database_url())

    [line] = status_lines(start_web_process(env))
    assert "smtp_provider_configured=false" in line and "component=web" in line

    provider = SmtpProviderFactory(secrets={"username": "u", "password": PASSWORD})
    output = start_web_process(env)
    [line] = status_lines(output)
    assert "smtp_provider_configured=true" in line and f"smtp_provider_id={provider.pk}" in line
    assert PASSWORD not in output


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("with_provider", [False, True], ids=["without_provider", "with_provider"])
def test_worker_logs_the_status_once_not_once_per_pool_child(require_postgres, tmp_path, with_provider):
    provider = SmtpProviderFactory() if with_provider else None

    output = start_worker_until_ready(process_env(tmp_path, current_database_url()))

    [line] = status_lines(output)
    assert "component=worker" in line
    if provider is None:
        assert "smtp_provider_configured=false" in line
    else:
        assert f"smtp_provider_id={provider.pk}" in line
    # Both pool children started, and neither logged the line again.
    assert "concurrency: 2 (prefork)" in output


def test_not_yet_migrated_database_is_logged_not_raised(tmp_path):
    output = start_web_process(process_env(tmp_path, f"sqlite:///{tmp_path / 'empty.sqlite3'}"))

    assert "database is not migrated yet or unreachable" in output
    [line] = status_lines(output)
    assert "smtp_provider_configured=false" in line and "database_ready=false" in line
