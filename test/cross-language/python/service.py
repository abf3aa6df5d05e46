"""A Python service traced with the OpenTelemetry Python SDK, for test/cross-language/python.test.ts.

It serves POST /callback (a SERVER span continuing the caller's W3C trace context), then, in a
root span, calls the tracewire gateway (a CLIENT span, traceparent and baggage injected) asking
it to call /callback back. Spans go to OTLP_TRACES_URL as OTLP/HTTP protobuf. It prints one JSON
line with what it saw, and exits 0 when the gateway answered 200.

Env: GATEWAY_URL (the gateway's /relay URL), OTLP_TRACES_URL (the receiver's /v1/traces URL),
TENANT (the baggage value to send).
"""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.request import ProxyHandler, Request, build_opener

from opentelemetry import baggage, context, propagate
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

GATEWAY_URL = os.environ["GATEWAY_URL"]
OTLP_TRACES_URL = os.environ["OTLP_TRACES_URL"]
TENANT = os.environ.get("TENANT", "acme")

provider = TracerProvider(resource=Resource.create({"service.name": "python-client"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=OTLP_TRACES_URL)))
tracer = provider.get_tracer("tracewire.cross-language.python")
# Loopback only: never through a proxy from the environment.
http = build_opener(ProxyHandler({}))

# What the callback saw, for the report printed at the end.
callbacks = []


def hex_ids(span):
    span_context = span.get_span_context()
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


class Callback(BaseHTTPRequestHandler):
    def do_POST(self):
        # The default propagator: W3C tracecontext + baggage. HTTPMessage.get is case-insensitive.
        # Attached (not only passed as the span's parent) so the baggage is current too.
        token = context.attach(propagate.extract(self.headers))
        try:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            with tracer.start_as_current_span(
                "POST /callback",
                kind=SpanKind.SERVER,
                attributes={"http.request.method": "POST", "http.route": "/callback", "url.path": self.path},
            ) as span:
                self.answer(span)
        finally:
            context.detach(token)

    def answer(self, span):
        tenant = baggage.get_baggage("tenant")
        if tenant is not None:
            span.set_attribute("app.tenant", str(tenant))
        trace_id, span_id = hex_ids(span)
        callbacks.append(
            {
                "traceparent": self.headers.get("traceparent"),
                "baggage": self.headers.get("baggage"),
                "tenant": tenant,
                "traceId": trace_id,
                "spanId": span_id,
            }
        )
        body = json.dumps({"tenant": tenant}).encode()
        span.set_attribute("http.response.status_code", 200)
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Callback)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    callback_url = f"http://127.0.0.1:{server.server_address[1]}/callback"

    with tracer.start_as_current_span("checkout") as root:
        token = context.attach(baggage.set_baggage("tenant", TENANT))
        try:
            with tracer.start_as_current_span(
                "POST",
                kind=SpanKind.CLIENT,
                attributes={"http.request.method": "POST", "url.full": GATEWAY_URL},
            ) as client:
                headers = {"content-type": "application/json"}
                propagate.inject(headers)
                request = Request(
                    GATEWAY_URL,
                    data=json.dumps({"callback": callback_url}).encode(),
                    headers=headers,
                    method="POST",
                )
                with http.open(request, timeout=30) as response:
                    status = response.status
                    answer = json.loads(response.read())
                    tenant_header = response.headers.get("x-tenant-seen")
                client.set_attribute("http.response.status_code", status)
        finally:
            context.detach(token)

    server.shutdown()
    # Exports every pending span before the process ends.
    provider.shutdown()

    trace_id, root_span_id = hex_ids(root)
    _, client_span_id = hex_ids(client)
    print(
        json.dumps(
            {
                "traceId": trace_id,
                "rootSpanId": root_span_id,
                "clientSpanId": client_span_id,
                "sentHeaders": headers,
                "gatewayStatus": status,
                "gatewayAnswer": answer,
                "gatewayTenantHeader": tenant_header,
                "callbacks": callbacks,
            }
        ),
        flush=True,
    )
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
