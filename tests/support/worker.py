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
    name: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        # Killed outright: a graceful shutdown waits ~2 s on the broker poll, and the test's broker db
        # and database are flushed anyway. Losing a worker is what acks_late is for.
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


def start_worker(
    *, broker_url: str, db_url: str, log_dir: Path, env: dict[str, str] | None = None, ready_timeout: float = 30.0
) -> WorkerProcess:
    name = f"pipeline-{uuid.uuid4().hex[:8]}"
    log_path = log_dir / f"{name}.log"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": db_url,
        "CELERY_BROKER_URL": broker_url,
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    command = [
        str(CELERY),
        "-A",
        "config",
        "worker",
        "--pool=solo",
        "--loglevel=INFO",
        f"--hostname={name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
    worker = WorkerProcess(name=name, process=process, log_path=log_path)
    deadline = time.monotonic() + ready_timeout
    while " ready." not in worker.log():
        if process.poll() is not None or time.monotonic() > deadline:
            worker.stop()
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
