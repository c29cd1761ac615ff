"""Real processes and servers for the fault tests: killable workers, counting sinks, database backends.

    worker = fault_worker(pool="prefork", concurrency=2, beat=True, NOTIFICATION_SWEEP_AGE_SECONDS="2")
    worker.kill_hard()                  # SIGKILL to the worker, its pool children and its beat
    sink = http_sink(reply=lambda number, nth: (500, {}) if number % 100 == 0 else (200, {}))
    mail = smtp_sink()                  # mail.stop(); mail.start()  -- back on the same port
    terminate_backends(worker)          # pg_terminate_backend on that worker's connections only

Both sinks count what arrives by delivery id: the X-Notification-Delivery-Id header of a webhook
request and the Message-ID of an email. Each worker connects to PostgreSQL with its own
application_name, so its backends can be found in pg_stat_activity without touching anyone else's.
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support.worker import WorkerProcess, database_url, start_worker

HOST = "127.0.0.1"
DELIVERY_ID_HEADER = "X-Notification-Delivery-Id"
# (status, headers) for the n-th request at the sink (1-based) that is the k-th for its delivery id.
Reply = tuple[int, dict[str, str]]
ReplyPolicy = Callable[[int, int], Reply]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


# --- workers -------------------------------------------------------------------------------------

# One `celery worker` per fault: its own process group, to be killed as a whole.
FaultWorker = WorkerProcess


@pytest.fixture
def fault_worker(
    celery_broker: Any, redis_url: str, transactional_db: None, require_postgres: None, tmp_path: Path
) -> Iterator[Callable[..., FaultWorker]]:
    """Starts workers (keyword arguments other than pool/concurrency/beat become environment variables)."""
    from django.db import connection

    db_url = database_url(connection.settings_dict)
    workers: list[FaultWorker] = []

    def start(*, pool: str = "solo", concurrency: int = 1, beat: bool = False, **env: str) -> FaultWorker:
        worker = start_worker(
            broker_url=redis_url,
            db_url=db_url,
            log_dir=tmp_path,
            pool=pool,
            concurrency=concurrency,
            beat=beat,
            env=env,
            name_prefix="faults",
        )
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.kill_hard()


def terminate_backends(worker: FaultWorker) -> list[int]:
    """pg_terminate_backend on the worker's connections to this test's database; returns their pids."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND application_name = %s AND pid <> pg_backend_pid()",
            [connection.settings_dict["NAME"], worker.application_name],
        )
        return [pid for pid, terminated in cursor.fetchall() if terminated]


def backend_pids(worker: FaultWorker) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
            [connection.settings_dict["NAME"], worker.application_name],
        )
        return [pid for (pid,) in cursor.fetchall()]


# --- the HTTP sink -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    delivery_id: str
    number: int  # 1-based, across the sink
    at: datetime
    status: int  # what the sink answers (or would have, had the client waited)
    headers: dict[str, str] = field(default_factory=dict)


class _HttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the workers' pooled sessions expect
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: _SinkServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        sink = self.server.sink
        number, status, headers = sink.arrive(self.headers.get(DELIVERY_ID_HEADER, ""), body)
        if number >= sink.hold_from:
            sink.released.wait(timeout=120)
        payload = b"ok" if status < 400 else b"fault injected"
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client is gone (killed while we held the answer)
            self.close_connection = True

    do_PUT = do_PATCH = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _SinkServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    sink: HttpSink


class HttpSink:
    """A threaded keep-alive webhook receiver that counts requests by delivery id.

    `reply(number, nth)` picks each answer; `stall()` holds every answer (after the request has been
    read in full and counted) until `release()`; `stall(from_request=3)` answers the first two.
    """

    def __init__(self, *, reply: ReplyPolicy | None = None) -> None:
        self.reply: ReplyPolicy = reply or (lambda number, nth: (200, {}))
        self.released = threading.Event()
        self.released.set()
        self.hold_from = 1
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []
        self._per_id: Counter[str] = Counter()
        self._server = _SinkServer((HOST, 0), _HttpHandler)
        self._server.sink = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}/hook"

    def arrive(self, delivery_id: str, body: bytes) -> tuple[int, int, dict[str, str]]:
        with self._lock:
            self._per_id[delivery_id] += 1
            number = len(self._arrivals) + 1
            status, headers = self.reply(number, self._per_id[delivery_id])
            self._arrivals.append(Arrival(delivery_id, number, datetime.now(UTC), status, dict(headers)))
        return number, status, headers

    @property
    def arrivals(self) -> list[Arrival]:
        with self._lock:
            return list(self._arrivals)

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(self._per_id)

    def accepted(self) -> Counter[str]:
        """Requests per delivery id that were answered with a success."""
        return Counter(a.delivery_id for a in self.arrivals if a.status < 300)

    def stall(self, *, from_request: int = 1) -> None:
        self.hold_from = from_request
        self.released.clear()

    def release(self) -> None:
        self.released.set()

    def start(self) -> HttpSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def http_sink() -> Iterator[Callable[..., HttpSink]]:
    sinks: list[HttpSink] = []

    def start(**options: Any) -> HttpSink:
        sink = HttpSink(**options).start()
        sinks.append(sink)
        return sink

    yield start
    for sink in sinks:
        sink.stop()


# --- the SMTP sink -------------------------------------------------------------------------------


def message_delivery_id(raw: bytes) -> str:
    """The delivery id in `Message-ID: <delivery-id@notification-service>`."""
    return email.message_from_bytes(raw)["Message-ID"].strip().strip("<>").split("@", 1)[0]


@dataclass
class _SmtpRecorder:
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    at_rcpt: int = 0
    arrivals: list[tuple[str, datetime]] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        with self.lock:
            self.at_rcpt += 1
        while not self.released.is_set():  # stalled: the client waits here, before any message data
            await asyncio.sleep(0.02)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.arrivals.append((message_delivery_id(envelope.content), datetime.now(UTC)))
        return "250 Message accepted for delivery"


class SmtpSink:
    """A plaintext SMTP server on a fixed port that can go down and come back on that port.

    Counts accepted messages by the delivery id in their Message-ID. `stall()` holds clients at
    RCPT TO, before any message data is sent, until `release()`.
    """

    def __init__(self, port: int = 0) -> None:
        self.port = port or free_port()
        self._recorder = _SmtpRecorder()
        self._recorder.released.set()
        self._controller: Controller | None = None

    @property
    def host(self) -> str:
        return HOST

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> SmtpSink:
        self._controller = Controller(self._recorder, hostname=HOST, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._recorder.released.set()
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def stall(self) -> None:
        self._recorder.released.clear()

    def release(self) -> None:
        self._recorder.released.set()

    @property
    def waiting_at_rcpt(self) -> int:
        with self._recorder.lock:
            return self._recorder.at_rcpt

    @property
    def arrivals(self) -> list[tuple[str, datetime]]:
        with self._recorder.lock:
            return list(self._recorder.arrivals)

    def counts(self) -> Counter[str]:
        return Counter(delivery_id for delivery_id, _ in self.arrivals)

    def smtp_config(self, *, timeout: float = 2) -> dict[str, Any]:
        """An email channel's own `smtp` block pointing here."""
        return {"host": HOST, "port": self.port, "use_tls": False, "timeout": timeout}


@pytest.fixture
def smtp_sink() -> Iterator[Callable[..., SmtpSink]]:
    sinks: list[SmtpSink] = []

    def start(port: int = 0) -> SmtpSink:
        sink = SmtpSink(port).start()
        sinks.append(sink)
        return sink

    yield start
    for sink in sinks:
        sink.stop()
