"""Collects the spans the code under test records, with the OpenTelemetry SDK's in-memory exporter.

The global tracer provider can be set only once per process, so one provider with one exporter is
installed on first use and shared; the `span_exporter` fixture (import it into a conftest) clears
it before each test.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_lock = threading.Lock()
_exporter: InMemorySpanExporter | None = None


def install_span_exporter() -> InMemorySpanExporter:
    """The process-wide in-memory exporter, attached to the global SDK tracer provider."""
    global _exporter
    with _lock:
        if _exporter is None:
            provider = trace.get_tracer_provider()
            if not isinstance(provider, TracerProvider):
                provider = TracerProvider()
                trace.set_tracer_provider(provider)
            exporter = InMemorySpanExporter()
            # Synchronous export, so a span is readable as soon as it ends.
            provider.add_span_processor(SimpleSpanProcessor(exporter))
            _exporter = exporter
        return _exporter


@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    exporter = install_span_exporter()
    exporter.clear()
    return exporter


def spans_named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def attributes(span: ReadableSpan) -> Mapping[str, Any]:
    return dict(span.attributes or {})
