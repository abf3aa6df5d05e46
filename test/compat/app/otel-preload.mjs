// Preloaded with --import / --require / --preload. Where the runtime has module.register (Node),
// it first registers import-in-the-middle's hook, as OpenTelemetry documents for ESM apps.
import * as nodeModule from 'node:module';

if (typeof nodeModule.register === 'function' && !process.versions.bun && !process.versions.deno) {
  nodeModule.register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
}
await import('./otel-setup.mjs');
