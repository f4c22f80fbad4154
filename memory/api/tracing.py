"""Optional OpenTelemetry tracing: on only when the instrumentation is installed and an OTLP
exporter endpoint is configured (OTEL_EXPORTER_OTLP_ENDPOINT); otherwise a no-op."""

from __future__ import annotations

import logging
import os

log = logging.getLogger("memory.api")


def instrument(app) -> bool:
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    try:
        from opentelemetry.instrumentation.flask import FlaskInstrumentor
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but opentelemetry-instrumentation-flask "
                    "is not installed; tracing stays off")
        return False
    FlaskInstrumentor().instrument_app(app)
    return True
