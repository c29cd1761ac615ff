"""A real Celery worker in a subprocess, on the test's Redis db and the test's PostgreSQL database.

    @pytest.mark.django_db(transaction=True)       # the worker only sees committed rows
    def test_something(celery_worker):
        worker = celery_worker(NOTIFICATION_MAX_ATTEMPTS="3")   # extra environment, optional
        ...emit; the worker delivers...

`celery_broker` flushes the Redis db and points this process's Celery app at it, so tasks queued
here reach the worker; it yields a Redis client for looking at the raw queue. Workers are stopped
(warm shutdown, then kill) when the test ends, before the test database is flushed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
from kombu import pools as kombu_pools

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")
QUEUE = "celery"


def wait_until(predicate: Callable[[], Any], *, timeout: float = 15.0, interval: float = 0.05, what: str = "") -> Any:
    """Polls until `predicate()` is truthy and returns its value; fails the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def database_url(settings_dict: dict[str, Any]) -> str:
    """The URL of the database this test runs on (pytest-django's test database), for a subprocess."""
    if settings_dict["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError("a worker subprocess needs PostgreSQL: an in-memory test database is not shared")
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{quote(settings_dict['NAME'], safe='')}"


@dataclass
class WorkerProcess:
    """A `celery worker` in its own process group (its pool children and embedded beat included)."""

    name: str
    process: subprocess.Popen
    log_path: Path

    @property
    def application_name(self) -> str:
        """How its database connections name themselves (pg_stat_activity.application_name)."""
        return self.name

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def group_alive(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill_hard(self) -> None:
        """SIGKILL to every process of the worker at once: no warm shutdown, no ack, no requeue."""
        if self.group_alive():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        wait_until(lambda: not self.group_alive(), timeout=10, what=f"the processes of {self.name} to go")

    # Killed outright: a graceful shutdown waits ~2 s on the broker poll, and the test's broker db
    # and database are flushed anyway. Losing a worker is what acks_late is for.
    stop = kill_hard


def start_worker(
    *,
    broker_url: str,
    db_url: str,
    log_dir: Path,
    env: dict[str, str] | None = None,
    pool: str = "solo",
    concurrency: int = 1,
    beat: bool = False,
    name_prefix: str = "pipeline",
    ready_timeout: float = 30.0,
) -> WorkerProcess:
    name = f"{name_prefix}-{uuid.uuid4().hex[:8]}"
    log_path = log_dir / f"{name}.log"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"{db_url}?application_name={name}",
        "CELERY_BROKER_URL": broker_url,
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    command = [
        str(CELERY),
        "-A",
        "config",
        "worker",
        f"--pool={pool}",
        f"--concurrency={concurrency}",
        "--loglevel=INFO",
        f"--hostname={name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    if beat:  # the sweeper on its real schedule, NOTIFICATION_SWEEP_INTERVAL_SECONDS
        command += ["--beat", f"--schedule={log_dir / f'{name}-beat-schedule'}"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = WorkerProcess(name=name, process=process, log_path=log_path)
    deadline = time.monotonic() + ready_timeout
    while " ready." not in worker.log():
        if process.poll() is not None or time.monotonic() > deadline:
            worker.kill_hard()
            raise RuntimeError(f"Celery worker {name} did not start:\n{worker.log()[-4000:]}")
        time.sleep(0.05)
    return worker


def reset_producer_pool() -> None:
    # The app builds its connection pool on first use and kombu keeps pools in a global registry;
    # close and forget them all so that the next send connects to the current URL.
    kombu_pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def celery_broker(redis_url: str) -> Iterator[redis.Redis]:
    """An empty Redis db as this process's broker; yields a client for inspecting it."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    saved = (celery_app.conf.broker_url, celery_app.conf.broker_transport_options)
    celery_app.conf.broker_url = redis_url
    celery_app.conf.broker_transport_options = {}
    reset_producer_pool()
    yield client
    celery_app.conf.broker_url, celery_app.conf.broker_transport_options = saved
    reset_producer_pool()
    client.flushdb()
    client.close()


@pytest.fixture
def celery_worker(
    celery_broker: redis.Redis, redis_url: str, transactional_db: None, require_postgres: None, tmp_path: Path
) -> Iterator[Callable[..., WorkerProcess]]:
    """Starts real workers (keyword arguments become environment variables); stops them afterwards."""
    from django.db import connection

    db_url = database_url(connection.settings_dict)
    workers: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        worker = start_worker(broker_url=redis_url, db_url=db_url, log_dir=tmp_path, env=env)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
