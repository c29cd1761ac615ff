from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from providers.sender_cache import invalidate_sender_cache
from tests.support.http import http_server, webhook_receiver  # noqa: F401  (fixtures)
from tests.support.otel import install_span_exporter
from tests.support.smtp import SmtpTestServer


@pytest.fixture(autouse=True)
def _fresh_sender_cache() -> Iterator[None]:
    # The cache is per process: a provider from an earlier (rolled back) test must not linger.
    invalidate_sender_cache()
    yield
    invalidate_sender_cache()


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    exporter = install_span_exporter()
    exporter.clear()
    return exporter


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., SmtpTestServer]]:
    servers: list[SmtpTestServer] = []

    def start(**options) -> SmtpTestServer:
        server = SmtpTestServer(**options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
