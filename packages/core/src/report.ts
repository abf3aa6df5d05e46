import { diag } from '@opentelemetry/api';

const reported = new Set<string>();

/** Reports an internal failure through `diag` once per message, so a hot path cannot flood logs. */
export function reportOnce(message: string, error?: unknown): void {
  if (reported.has(message)) return;
  reported.add(message);
  if (error === undefined) diag.warn(message);
  else diag.warn(message, error);
}
