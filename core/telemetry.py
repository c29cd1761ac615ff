"""OpenTelemetry set-up: the exporter is chosen by OTEL_TRACES_EXPORTER (none, console, otlp).

Spans carry only low-cardinality facts (types, ids, outcomes): never recipients, subjects,
bodies or secrets.
"""

from __future__ import annotations

import threading

from django.conf import settings
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

_lock = threading.Lock()
_configured = False


def configure_tracing() -> None:
    """Installs the global tracer provider once per process, as the settings ask."""
    global _configured
    with _lock:
        if _configured:
            return
        _configured = True
        exporter_name = settings.OTEL_TRACES_EXPORTER
        if exporter_name in ("", "none"):
            return
        provider = TracerProvider(resource=Resource.create({"service.name": settings.OTEL_SERVICE_NAME}))
        if exporter_name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        elif exporter_name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            raise ValueError(f"OTEL_TRACES_EXPORTER={exporter_name!r}: expected none, console or otlp")
        trace.set_tracer_provider(provider)
        from opentelemetry.instrumentation.django import DjangoInstrumentor

        DjangoInstrumentor().instrument()


def tracer() -> trace.Tracer:
    return trace.get_tracer("notification-service")
