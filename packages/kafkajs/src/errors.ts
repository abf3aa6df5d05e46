import { errorType, innermostCause } from '@tracewire/core';

/**
 * `error.type` of a KafkaJS failure: its innermost cause (KafkaJSNumberOfRetriesExceeded wraps the
 * error that was retried), and for a broker error the protocol's own code
 * (`UNKNOWN_TOPIC_OR_PARTITION`), which is what the conventions' examples use for Kafka.
 */
export function kafkaErrorType(error: unknown): string {
  const cause = innermostCause(error);
  if (cause instanceof Error) {
    const type = (cause as { type?: unknown }).type;
    if (typeof type === 'string' && isProtocolCode(type)) return type;
  }
  return errorType(cause);
}

/** Upper-case words joined by underscores, as Kafka's error codes are named; at most 64 characters. */
function isProtocolCode(text: string): boolean {
  if (text.length === 0 || text.length > 64) return false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (!((code >= 65 && code <= 90) || code === 95 || (code >= 48 && code <= 57))) return false;
  }
  return true;
}
