// Preloaded with --require: OpenTelemetry's SDK and instrumentations before anything else loads.
require('./otel-setup.cjs');
