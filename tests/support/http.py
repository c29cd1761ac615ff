"""Real HTTP servers on loopback for webhook tests (pytest-httpserver's werkzeug server, port 0).

    receiver = webhook_receiver(responses=[(500, {}, "boom"), (200, {}, "ok")])
    ...point a channel at receiver.url...
    receiver.requests          # what arrived, in order, with arrival times

Responses are played in order; the last one repeats.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

Reply = tuple[int, dict[str, str], str]


@dataclass(frozen=True)
class ReceivedRequest:
    at: datetime
    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class WebhookReceiver:
    server: HTTPServer
    path: str
    responses: list[Reply]
    requests: list[ReceivedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return self.server.url_for(self.path)

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(
                ReceivedRequest(
                    at=datetime.now(UTC),
                    method=request.method,
                    path=request.path,
                    query_string=request.query_string.decode(),
                    headers=dict(request.headers),
                    body=request.get_data(),
                )
            )
            status, headers, body = self.responses[min(len(self.requests), len(self.responses)) - 1]
        return Response(body, status=status, headers=headers)

    def wait_for(self, count: int, *, timeout: float = 10.0) -> list[ReceivedRequest]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} requests within {timeout}s, got {len(self.requests)}")


class QuickStopHTTPServer(HTTPServer):
    """Polls for shutdown every 50 ms instead of werkzeug's 500 ms, which adds up over a suite."""

    def thread_target(self) -> None:
        assert self.server is not None
        self.server.serve_forever(poll_interval=0.05)


@pytest.fixture
def http_server() -> Iterator[Callable[..., HTTPServer]]:
    """Starts HTTP servers on a loopback address (127.0.0.1 unless told) and stops them afterwards."""
    servers: list[HTTPServer] = []

    def start(host: str = "127.0.0.1") -> HTTPServer:
        server = QuickStopHTTPServer(host=host, port=0, threaded=True)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.clear()
        server.stop()


@pytest.fixture
def webhook_receiver(http_server: Callable[..., HTTPServer]) -> Callable[..., WebhookReceiver]:
    def start(*, responses: list[Reply] | None = None, path: str = "/hook", host: str = "127.0.0.1") -> WebhookReceiver:
        server = http_server(host)
        receiver = WebhookReceiver(server=server, path=path, responses=responses or [(200, {}, "ok")])
        server.expect_request(path).respond_with_handler(receiver.handle)
        return receiver

    return start
