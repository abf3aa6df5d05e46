import {
  type Attributes,
  type Context,
  type Link,
  type SpanContext,
  type SpanKind,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  ROOT_CONTEXT,
  context,
  createContextKey,
  isSpanContextValid,
  propagation,
  trace,
} from '@opentelemetry/api';
import { reportOnce } from './report.js';
import { ContextWithSpan } from './context-with-span.js';
import { SpanScope } from './span-scope.js';
import { type TracerOptions, resolveTracer } from './tracer.js';
import { type Trust, type TrustMode, checkTrust, decideTrust } from './trust.js';
import { resolvePropagator } from './w3c-propagator.js';

/** Options every adapter takes. */
export interface TracingOptions extends TracerOptions {
  /** Default: the globally registered propagator, or tracewire's W3C one when none is registered. */
  propagator?: TextMapPropagator;
}

/** Options every incoming (server, consumer) adapter takes. */
export interface IncomingOptions<Request> extends TracingOptions {
  /** How far to trust the caller's context. Default `'continue'`. */
  trust?: Trust<Request>;
}

/** What an adapter tells core about itself, once, when its factory runs. */
export interface AdapterIdentity {
  /** The npm package name, used for the tracer and in messages. */
  packageName: string;
  version: string;
}

/** Starts the SERVER or CONSUMER span of one incoming request or message. */
export interface IncomingSpans<Request, Carrier> {
  /**
   * Extracts the caller's context from `carrier`, applies the trust policy, and starts the span
   * as the caller's child (or a new root). The returned scope's context carries the span and,
   * when continuing, the caller's baggage. With `fallbackParent` (a batch span's context), a
   * carrier without a valid context, or one the trust policy does not continue, gives a child of
   * it instead of a new root.
   */
  start(
    request: Request,
    carrier: Carrier,
    name: string,
    attributes?: Attributes,
    links?: Link[],
    fallbackParent?: Context,
  ): SpanScope;
  /** The caller's context as a link (for batch spans), honouring the trust policy; else undefined. */
  link(request: Request, carrier: Carrier, attributes?: Attributes): Link | undefined;
  /** Starts a new root span of this kind, for work that has no single caller (a batch). */
  startRoot(name: string, attributes?: Attributes, links?: Link[]): SpanScope;
  /**
   * Reads one request's caller once (the trust decision, and the extraction unless ignored), for
   * {@link linkCaller} and {@link startCaller}: a batch links to each message, then starts its span,
   * without extracting it twice. The extraction is made under the context active now.
   */
  caller(request: Request, carrier: Carrier): IncomingCaller;
  /** `link`, from a caller already read. */
  linkCaller(caller: IncomingCaller, attributes?: Attributes): Link | undefined;
  /**
   * `start`, from a caller already read. Give it a caller read under the context active now (or one
   * holding the same values): that context is what the span is parented on when continuing.
   */
  startCaller(
    caller: IncomingCaller,
    name: string,
    attributes?: Attributes,
    links?: Link[],
    fallbackParent?: Context,
  ): SpanScope;
}

/** One request's caller as {@link IncomingSpans.caller} read it. */
export interface IncomingCaller {
  readonly mode: TrustMode;
  /** What the propagator extracted; undefined when the trust mode ignores the caller. */
  readonly context: Context | undefined;
}

/** Starts the CLIENT or PRODUCER span of one outgoing call or message, and injects it. */
export interface OutgoingSpans<Carrier> {
  /**
   * Starts the span as the child of `parent` (default: the active context) and injects its
   * context into `carrier`, when one is given.
   */
  start(carrier: Carrier | undefined, name: string, attributes?: Attributes, parent?: Context): SpanScope;
  /** Injects `scope`'s context into another carrier (a retry, a redirect). */
  inject(scope: SpanScope, carrier: Carrier): void;
}

/** How an adapter's incoming spans relate to the caller's context, beyond being its child. */
export interface IncomingShape {
  /**
   * Also link a continued span to the caller's context, as the messaging conventions ask of a
   * process span parented on a message's creation context.
   */
  linkParent?: boolean;
}

/** Builds the incoming span starter of an adapter; options are checked and resolved here, once. */
export function createIncomingSpans<Request, Carrier>(
  options: IncomingOptions<Request>,
  identity: AdapterIdentity,
  kind: SpanKind,
  getter: TextMapGetter<Carrier>,
  { linkParent = false }: IncomingShape = {},
): IncomingSpans<Request, Carrier> {
  const tracer = resolveTracer(options, identity.packageName, identity.version);
  const propagator = resolvePropagator(options.propagator);
  const trust = checkTrust<Request>(
    options.trust === undefined ? 'continue' : options.trust,
    identity.packageName,
  );
  const extractFailed = `${identity.packageName}: the propagator failed to extract; starting a new trace`;

  const extract = (carrier: Carrier): Context => {
    try {
      return propagator.extract(incomingBase(), carrier, getter);
    } catch (error) {
      reportOnce(extractFailed, error);
      return incomingBase();
    }
  };

  // One reading of the caller (trust decision, then extraction unless ignored) serves both a link
  // and a span: `start` and `link` are a reading used once.
  const readCaller = (request: Request, carrier: Carrier): IncomingCaller => {
    const mode = decideTrust(trust, request);
    return { mode, context: mode === 'ignore' ? undefined : extract(carrier) };
  };

  const startCaller: IncomingSpans<Request, Carrier>['startCaller'] = (
    caller,
    name,
    attributes,
    links,
    fallbackParent,
  ) => {
    checkSetupOnce();
    const { mode, context: extracted } = caller;
    let parent: Context;
    let allLinks = links;
    let root = mode !== 'continue';
    if (mode === 'continue' && extracted) {
      parent = extracted;
      const remote = trace.getSpanContext(parent);
      if (remote && isSpanContextValid(remote)) {
        if (linkParent) allLinks = links ? [{ context: remote }, ...links] : [{ context: remote }];
      } else if (fallbackParent) {
        parent = fallbackParent;
      }
    } else {
      parent = fallbackParent ?? incomingBase();
      root = fallbackParent === undefined;
      const link = extractedLink(mode, extracted);
      if (link) allLinks = links ? [link, ...links] : [link];
    }
    const span = tracer.startSpan(name, { kind, attributes, links: allLinks, root }, parent);
    return new SpanScope(span, ContextWithSpan.of(parent, span));
  };

  return {
    start(request, carrier, name, attributes, links, fallbackParent) {
      return startCaller(readCaller(request, carrier), name, attributes, links, fallbackParent);
    },
    link(request, carrier, attributes) {
      const caller = readCaller(request, carrier);
      return extractedLink(caller.mode, caller.context, attributes);
    },
    startRoot(name, attributes, links) {
      checkSetupOnce();
      const parent = incomingBase();
      const span = tracer.startSpan(name, { kind, attributes, links, root: true }, parent);
      return new SpanScope(span, ContextWithSpan.of(parent, span));
    },
    caller: readCaller,
    linkCaller(caller, attributes) {
      return extractedLink(caller.mode, caller.context, attributes);
    },
    startCaller,
  };
}

/** The caller as a link, from a reading already made (undefined when it was ignored or invalid). */
function extractedLink(
  mode: TrustMode,
  extracted: Context | undefined,
  attributes?: Attributes,
): Link | undefined {
  if (mode === 'ignore' || extracted === undefined) return undefined;
  const remote = trace.getSpanContext(extracted);
  if (!remote || !isSpanContextValid(remote)) return undefined;
  // A restart drops the caller's tracestate along with its trace.
  const linked: SpanContext =
    mode === 'restart'
      ? { traceId: remote.traceId, spanId: remote.spanId, traceFlags: remote.traceFlags }
      : remote;
  return attributes ? { context: linked, attributes } : { context: linked };
}

/** Builds the outgoing span starter of an adapter; options are resolved here, once. */
export function createOutgoingSpans<Carrier>(
  options: TracingOptions,
  identity: AdapterIdentity,
  kind: SpanKind,
  setter: TextMapSetter<Carrier>,
): OutgoingSpans<Carrier> {
  const tracer = resolveTracer(options, identity.packageName, identity.version);
  const propagator = resolvePropagator(options.propagator);
  const injectFailed = `${identity.packageName}: the propagator failed to inject`;

  const inject = (scope: SpanScope, carrier: Carrier): void => {
    try {
      propagator.inject(scope.context, carrier, setter);
    } catch (error) {
      reportOnce(injectFailed, error);
    }
  };

  return {
    start(carrier, name, attributes, parent = context.active()) {
      checkSetupOnce();
      const span = tracer.startSpan(name, { kind, attributes }, parent);
      const scope = new SpanScope(span, ContextWithSpan.of(parent, span));
      if (carrier !== undefined) inject(scope, carrier);
      return scope;
    },
    inject,
  };
}

/**
 * What an incoming span is parented on before extraction: the active context without its span
 * and baggage, so a context that leaked into a server or consumer loop never becomes the parent.
 */
function incomingBase(): Context {
  let base = context.active();
  if (base === ROOT_CONTEXT) return base;
  if (trace.getSpan(base)) base = trace.deleteSpan(base);
  if (propagation.getBaggage(base)) base = propagation.deleteBaggage(base);
  return base;
}

const PROBE_KEY = createContextKey('tracewire.context-manager-probe');
let setupChecked = false;

/**
 * Says once, through `diag`, when no context manager is registered: spans would then never be
 * parented across async calls, which is easy to miss.
 */
export function checkSetupOnce(): void {
  if (setupChecked) return;
  setupChecked = true;
  const works = context.with(ROOT_CONTEXT.setValue(PROBE_KEY, true), () =>
    context.active().getValue(PROBE_KEY),
  );
  if (works !== true) {
    reportOnce(
      '@tracewire: no OpenTelemetry context manager is registered, so spans cannot be parented. ' +
        "Call startTracing() from '@tracewire/node' (or register an OpenTelemetry SDK) before serving requests.",
    );
  }
}
