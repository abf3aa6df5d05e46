// Records what adapters report through OpenTelemetry's `diag` (warnings and errors), for tests
// that assert a failure was reported rather than thrown.
import { DiagLogLevel, diag } from '@opentelemetry/api';
import { afterAll, afterEach, beforeAll } from 'vitest';

/** The messages reported in the current test; emptied after each, the logger removed after all. */
export function recordDiagWarnings(): string[] {
  const messages: string[] = [];
  beforeAll(() => {
    const keep = (message: string) => messages.push(message);
    diag.setLogger({ warn: keep, error: keep, info() {}, debug() {}, verbose() {} }, DiagLogLevel.WARN);
  });
  afterEach(() => {
    messages.length = 0;
  });
  afterAll(() => diag.disable());
  return messages;
}
