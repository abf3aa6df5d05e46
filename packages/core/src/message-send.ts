import {
  type Attributes,
  type Context,
  type Link,
  ROOT_CONTEXT,
  SpanKind,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  context,
  isSpanContextValid,
  trace,
} from '@opentelemetry/api';
import { causeErrorType } from './outcome.js';
import { reportOnce } from './report.js';
import { type AdapterIdentity, type TracingOptions, checkSetupOnce } from './span-lifecycle.js';
import { ContextWithSpan } from './context-with-span.js';
import { SpanScope } from './span-scope.js';
import { resolveTracer } from './tracer.js';
import { resolvePropagator } from './w3c-propagator.js';

export const ATTR_MESSAGING_OPERATION_TYPE = 'messaging.operation.type';
export const ATTR_MESSAGING_OPERATION_NAME = 'messaging.operation.name';
export const ATTR_MESSAGING_BATCH_MESSAGE_COUNT = 'messaging.batch.message_count';

/** Options of a producer adapter that sends messages. */
export interface MessageSendOptions extends TracingOptions {
  /**
   * A send of several messages makes a PRODUCER `create` span per message (its context goes into
   * that message) and one CLIENT `send` span linking to them. `false`: one PRODUCER `send` span
   * whose context goes into every message. Single-message sends are one PRODUCER `send` either way.
   * Default `true`.
   */
  createSpans?: boolean;
}

/** One message of a send: the carrier its context goes into and what its own span records. */
export interface OutgoingMessage<Carrier> {
  readonly carrier: Carrier;
  /** The destination in its `create {destination}` span name. */
  readonly destination: string;
  /**
   * Per-message attributes (key, size, destination...) of its create span, or of a single-message
   * send span. A fresh object per message: the helper adds to it rather than copy it (per-message
   * copies are measurable on the send path).
   */
  readonly attributes?: Attributes;
}

/** What a send call is about: the destination in the `send` span's name (none when several) and its attributes. */
export interface SendCall {
  readonly destination: string | undefined;
  /** A fresh object per call, which the helper adds to (operation, batch count). */
  readonly attributes: Attributes;
}

/** The spans of one send call, ended together, exactly once, with its outcome. */
export interface MessageSend {
  /** The `send` span of the call. */
  readonly send: SpanScope;
  /**
   * The span that stands for message `index` alone: its `create` span, or the `send` span of a
   * single-message send. Undefined when the message kept its own context or shares the send span.
   */
  messageScope(index: number): SpanScope | undefined;
  /** True when message `index` carried a creation context of its own and was left untouched. */
  preserved(index: number): boolean;
  /** Ends every span OK. */
  succeed(): void;
  /** Ends every span ERROR: the exception on the send span, `error.type` naming its innermost cause. */
  fail(error: unknown): void;
  /** Ends every span ERROR with `error.type` set to `type` (a status, a reply code). */
  failWith(type: string, message?: string): void;
}

/** How the helper reads and writes one kind of message carrier (headers). */
export interface MessageCarrier<Carrier> {
  getter: TextMapGetter<Carrier>;
  setter: TextMapSetter<Carrier>;
  /**
   * Deletes a header. Before a fresh message gets its context, every field the propagator owns
   * (`traceparent`, `tracestate`, `baggage`...) is removed, so a stale `tracestate` or `baggage`
   * next to a missing or malformed `traceparent` never goes out with the new one.
   */
  remove(carrier: Carrier, key: string): void;
}

/** Starts the spans of message sends; options resolved once, when the adapter's factory runs. */
export interface MessageSendSpans<Carrier> {
  start(call: SendCall, messages: readonly OutgoingMessage<Carrier>[], parent?: Context): MessageSend;
  /**
   * Whether a send of `count` messages records their {@link OutgoingMessage.attributes}: false
   * with `createSpans: false` and several messages (one span for the call), when an adapter can
   * skip building them.
   */
  recordsMessageAttributes(count: number): boolean;
}

/**
 * Builds the send-span starter of a messaging adapter. `getter` reads a message's carrier to find
 * a creation context the application already put there (a forwarded or re-produced message): such
 * a message is never modified, gets no create span, and the send span links to its context, so
 * traceparent, tracestate and baggage of a message always come from one context. `describeError`
 * names a failure's `error.type` (default: the class of its innermost `cause`).
 */
export function createMessageSendSpans<Carrier>(
  options: MessageSendOptions,
  identity: AdapterIdentity,
  { getter, setter, remove }: MessageCarrier<Carrier>,
  describeError: (error: unknown) => string = causeErrorType,
): MessageSendSpans<Carrier> {
  const tracer = resolveTracer(options, identity.packageName, identity.version);
  const propagator = resolvePropagator(options.propagator);
  const { createSpans = true } = options;
  if (typeof createSpans !== 'boolean') {
    throw new TypeError(`${identity.packageName}: createSpans must be a boolean, got ${typeof createSpans}`);
  }
  const injectFailed = `${identity.packageName}: the propagator failed to inject`;
  const extractFailed = `${identity.packageName}: reading a message's own context failed; it is traced as new`;

  const fields = propagatorFields(propagator);
  const inject = (ctx: Context, carrier: Carrier): void => {
    try {
      for (const field of fields) remove(carrier, field);
      propagator.inject(ctx, carrier, setter);
    } catch (error) {
      reportOnce(injectFailed, error);
    }
  };

  /** What the propagator writes for `ctx`, as `[name, value]` pairs; none if it failed. */
  const injectOnce = (ctx: Context): Array<[string, string]> => {
    const record: Record<string, string> = Object.create(null);
    try {
      propagator.inject(ctx, record, RECORD_SETTER);
    } catch (error) {
      reportOnce(injectFailed, error);
      return [];
    }
    return Object.entries(record);
  };
  /** Writes headers {@link injectOnce} got into one message's carrier, as `inject` would. */
  const write = (headers: Array<[string, string]>, carrier: Carrier): void => {
    try {
      for (const field of fields) remove(carrier, field);
      for (const [name, value] of headers) setter.set(carrier, name, value);
    } catch (error) {
      reportOnce(injectFailed, error);
    }
  };

  /** The creation context a message already carries, if valid. */
  const carried = (carrier: Carrier): Link | undefined => {
    try {
      const found = trace.getSpanContext(propagator.extract(ROOT_CONTEXT, carrier, getter));
      return found && isSpanContextValid(found) ? { context: found } : undefined;
    } catch (error) {
      reportOnce(extractFailed, error);
      return undefined;
    }
  };

  const startSpan = (
    name: string,
    kind: SpanKind,
    attributes: Attributes,
    parent: Context,
    links?: Link[],
  ) => {
    const span = tracer.startSpan(name, { kind, attributes, links }, parent);
    return new SpanScope(span, ContextWithSpan.of(parent, span));
  };

  return {
    recordsMessageAttributes: (count) => createSpans || count === 1,
    start(call, messages, parent = context.active()) {
      checkSetupOnce();
      const count = messages.length;
      const own: Array<Link | undefined> = new Array(count);
      const links: Link[] = [];
      for (let i = 0; i < count; i++) {
        const link = carried(messages[i]!.carrier);
        own[i] = link;
        if (link) links.push(link);
      }
      const sendName = call.destination === undefined ? 'send' : `send ${call.destination}`;

      if (count === 1) {
        const message = messages[0]!;
        const attributes = message.attributes ?? {};
        for (const name in call.attributes)
          if (!(name in attributes)) attributes[name] = call.attributes[name];
        operation(attributes, 'send');
        const send = startSpan(
          sendName,
          SpanKind.PRODUCER,
          attributes,
          parent,
          links.length ? links : undefined,
        );
        if (!own[0]) inject(send.context, message.carrier);
        return new Batch(send, own[0] ? [undefined] : [send], own, describeError);
      }

      const sendAttributes = call.attributes;
      operation(sendAttributes, 'send');
      sendAttributes[ATTR_MESSAGING_BATCH_MESSAGE_COUNT] = count;

      if (!createSpans) {
        const send = startSpan(
          sendName,
          SpanKind.PRODUCER,
          sendAttributes,
          parent,
          links.length ? links : undefined,
        );
        // One context for every message: injected once, then written into each carrier (the same
        // headers a propagator writes for the same context, without formatting them per message).
        const headers = injectOnce(send.context);
        for (let i = 0; i < count; i++) if (!own[i]) write(headers, messages[i]!.carrier);
        return new Batch(send, new Array(count).fill(undefined), own, describeError);
      }

      const creates: Array<SpanScope | undefined> = new Array(count);
      const sendLinks: Link[] = [];
      for (let i = 0; i < count; i++) {
        const link = own[i];
        if (link) {
          sendLinks.push(link);
          continue;
        }
        const message = messages[i]!;
        const attributes = message.attributes ?? {};
        operation(attributes, 'create');
        const create = startSpan(`create ${message.destination}`, SpanKind.PRODUCER, attributes, parent);
        inject(create.context, message.carrier);
        creates[i] = create;
        sendLinks.push({ context: create.span.spanContext() });
      }
      const send = startSpan(sendName, SpanKind.CLIENT, sendAttributes, parent, sendLinks);
      return new Batch(send, creates, own, describeError);
    },
  };
}

const RECORD_SETTER: TextMapSetter<Record<string, string>> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};

function propagatorFields(propagator: TextMapPropagator): string[] {
  try {
    return propagator.fields().filter((field) => typeof field === 'string');
  } catch {
    return [];
  }
}

function operation(attributes: Attributes, name: 'send' | 'create'): void {
  attributes[ATTR_MESSAGING_OPERATION_TYPE] = name;
  attributes[ATTR_MESSAGING_OPERATION_NAME] = name;
}

/**
 * One send's spans. A class, not an object of closures: a confirm channel or a producer holds
 * one per send in flight until the broker answers, and six closures each are six more objects
 * for the GC to move when thousands are pending.
 */
class Batch implements MessageSend {
  readonly send: SpanScope;
  readonly #perMessage: Array<SpanScope | undefined>;
  readonly #own: Array<Link | undefined>;
  readonly #describeError: (error: unknown) => string;

  constructor(
    send: SpanScope,
    perMessage: Array<SpanScope | undefined>,
    own: Array<Link | undefined>,
    describeError: (error: unknown) => string,
  ) {
    this.send = send;
    this.#perMessage = perMessage;
    this.#own = own;
    this.#describeError = describeError;
  }

  messageScope(index: number): SpanScope | undefined {
    return this.#perMessage[index];
  }

  preserved(index: number): boolean {
    return this.#own[index] !== undefined;
  }

  succeed(): void {
    for (const scope of this.#perMessage) if (scope && scope !== this.send) scope.end();
    this.send.end();
  }

  fail(error: unknown): void {
    if (!this.send.ended) recordException(this.send, error);
    let type: string;
    try {
      type = this.#describeError(error);
    } catch {
      type = '_OTHER';
    }
    this.failWith(type, error instanceof Error ? error.message : undefined);
  }

  failWith(type: string, message?: string): void {
    for (const scope of this.#perMessage)
      if (scope && scope !== this.send) scope.failWith(type, message).end();
    this.send.failWith(type, message).end();
  }
}

function recordException(scope: SpanScope, error: unknown): void {
  try {
    scope.span.recordException(error instanceof Error ? error : String(error));
  } catch {
    // A value that cannot even be stringified: error.type still says what failed.
  }
}
