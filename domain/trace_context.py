"""The W3C trace context a change carries from the request that made it to the work it causes later.

A webhook is sent by the delivery worker, seconds after the mutation that wrote its event committed and
possibly on another replica. So that the partner's request belongs to the mutation's trace, the event
row keeps the ``traceparent`` of the span current when it was written (``domain/events.record``), the
delivery row copies it at fan-out, and the worker sends under it (``domain/webhooks/worker.py``).

Only the OpenTelemetry API is used here: with no tracer provider configured no span is ever recording,
``current_traceparent`` returns None at the cost of one context lookup, and nothing is stored.
"""

from __future__ import annotations

from opentelemetry import propagate, trace
from opentelemetry.context import Context

TRACEPARENT = "traceparent"
# The delivery worker's span for one send; a trace may begin with it (``api/tracing.py``'s sampler).
DELIVERY_SPAN = "webhook delivery"


def current_traceparent() -> str | None:
    """The ``traceparent`` of the current span, or None outside a sampled, valid span."""
    span_context = trace.get_current_span().get_span_context()
    if not (span_context.is_valid and span_context.trace_flags.sampled):
        return None
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get(TRACEPARENT)


def remote_context(traceparent: str | None) -> Context | None:
    """The context to start a span under so that it continues the stored trace; None (a new trace)
    when nothing was stored."""
    if not traceparent:
        return None
    return propagate.extract({TRACEPARENT: traceparent})
