// The create/send span shapes of a messaging send, independent of any client: kept apart from the
// producer wrapper so it can move to @tracewire/core once the other messaging adapters share it.
import {
  type Attributes,
  type Link,
  type SpanContext,
  SpanKind,
  type TextMapGetter,
  type TextMapSetter,
  isSpanContextValid,
  trace,
  ROOT_CONTEXT,
} from '@opentelemetry/api';
import {
  type AdapterIdentity,
  type SpanScope,
  type TracingOptions,
  createOutgoingSpans,
  reportOnce,
  resolvePropagator,
} from '@tracewire/core';

/** Options of a send that may carry several messages. */
export interface SendSpansOptions extends TracingOptions {
  /**
   * `true` (default): a batch gets a PRODUCER `create` span per message, its context in that
   * message, and one CLIENT `send` span linking to them. `false`: one PRODUCER `send` span whose
   * context goes into every message.
   */
  createSpans?: boolean;
}

/** One message of a send: the adapter's own copy of its headers, and its span's name and attributes. */
export interface OutgoingMessage<Carrier> {
  readonly carrier: Carrier;
  /** The `create` span's name, e.g. `create {topic}`. */
  readonly createName: string;
  readonly createAttributes: Attributes;
}

/** The spans of one send. Every span ends exactly once, through {@link SendScope.end}. */
export interface SendScope {
  /** The `send` span: PRODUCER when its context went into a message, else CLIENT. */
  readonly send: SpanScope;
  /** Per message, the span whose context it carries (a `create` span, or `send`); undefined for a message that kept the app's context. */
  readonly creations: ReadonlyArray<SpanScope | undefined>;
  fail(error: unknown): void;
  end(): void;
}

export interface SendSpans<Carrier> {
  /**
   * Starts the spans of sending `messages` (in the active context) and injects their contexts.
   * A message that already carries a context (any field of the propagator) is left as it is,
   * and the send span links to its context: one message never mixes two contexts.
   */
  start(
    messages: ReadonlyArray<OutgoingMessage<Carrier>>,
    sendName: string,
    sendAttributes: Attributes,
  ): SendScope;
}

const ATTR_MESSAGING_BATCH_MESSAGE_COUNT = 'messaging.batch.message_count';
const CHECK_FAILED =
  '@tracewire: reading a message for an existing trace context failed; it is treated as having none';

/** Builds the send span starter of an adapter; options are checked and resolved here, once. */
export function createSendSpans<Carrier>(
  options: SendSpansOptions,
  identity: AdapterIdentity,
  getter: TextMapGetter<Carrier>,
  setter: TextMapSetter<Carrier>,
): SendSpans<Carrier> {
  const { createSpans = true } = options;
  if (typeof createSpans !== 'boolean') {
    throw new TypeError(`${identity.packageName}: createSpans must be a boolean, got ${String(createSpans)}`);
  }
  const producer = createOutgoingSpans<Carrier>(options, identity, SpanKind.PRODUCER, setter);
  const client = createOutgoingSpans<Carrier>(options, identity, SpanKind.CLIENT, setter);
  const propagator = resolvePropagator(options.propagator);
  const fields = propagator.fields();

  /** The app's own context in a message, as a link; null when it has none (so it gets ours). */
  const appContext = (carrier: Carrier): Link | undefined | null => {
    try {
      let present = false;
      for (const field of fields) {
        if (getter.get(carrier, field) !== undefined) {
          present = true;
          break;
        }
      }
      if (!present) return null;
      const remote: SpanContext | undefined = trace.getSpanContext(
        propagator.extract(ROOT_CONTEXT, carrier, getter),
      );
      return remote && isSpanContextValid(remote) ? { context: remote } : undefined;
    } catch (error) {
      reportOnce(CHECK_FAILED, error);
      return null;
    }
  };

  return {
    start(messages, sendName, sendAttributes) {
      const count = messages.length;
      const creations: Array<SpanScope | undefined> = new Array(count);
      const links: Link[] = [];
      // Per message: true when it gets our context, false when it keeps the app's own.
      const ours: boolean[] = new Array(count);
      let oursCount = 0;
      for (let i = 0; i < count; i++) {
        const own = appContext((messages[i] as OutgoingMessage<Carrier>).carrier);
        ours[i] = own === null;
        if (own === null) oursCount++;
        else if (own) links.push(own);
      }
      if (count > 1) sendAttributes[ATTR_MESSAGING_BATCH_MESSAGE_COUNT] = count;
      let send: SpanScope;
      if (count > 1 && createSpans) {
        for (let i = 0; i < count; i++) {
          if (!ours[i]) continue;
          const { carrier, createName, createAttributes } = messages[i] as OutgoingMessage<Carrier>;
          const scope = producer.start(carrier, createName, createAttributes);
          creations[i] = scope;
          links.push({ context: scope.span.spanContext() });
        }
        send = client.start(undefined, sendName, sendAttributes);
      } else if (oursCount > 0) {
        send = producer.start(undefined, sendName, sendAttributes);
        for (let i = 0; i < count; i++) {
          if (!ours[i]) continue;
          producer.inject(send, (messages[i] as OutgoingMessage<Carrier>).carrier);
          creations[i] = send;
        }
      } else {
        send = client.start(undefined, sendName, sendAttributes);
      }
      if (links.length > 0) addLinks(send, links);
      return {
        send,
        creations,
        fail(error) {
          send.fail(error);
          for (const scope of creations) if (scope && scope !== send) scope.fail(error);
        },
        end() {
          for (const scope of creations) if (scope && scope !== send) scope.end();
          send.end();
        },
      };
    },
  };
}

/** Links added after start: core's starter takes none, and api 1.9 spans accept them late. */
function addLinks(scope: SpanScope, links: Link[]): void {
  const span = scope.span as { addLinks?: (links: Link[]) => unknown };
  if (typeof span.addLinks === 'function') span.addLinks(links);
}
