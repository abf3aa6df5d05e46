export type { TraceParent, TraceParentFields } from './traceparent.js';
export {
  parseTraceparent,
  formatTraceparent,
  isValidTraceId,
  isValidSpanId,
  TRACE_FLAG_SAMPLED,
  TRACE_FLAG_RANDOM,
  MAX_TRACEPARENT_LENGTH,
} from './traceparent.js';
export {
  TraceState,
  parseTracestate,
  isValidTracestateKey,
  isValidTracestateValue,
  MAX_TRACESTATE_MEMBERS,
  MAX_TRACESTATE_LENGTH,
} from './tracestate.js';
export type { BaggageMember, BaggageProperty } from './baggage.js';
export {
  parseBaggage,
  formatBaggage,
  decodeBaggageProperties,
  isBaggageKey,
  MAX_BAGGAGE_LENGTH,
  MAX_BAGGAGE_MEMBERS,
} from './baggage.js';
export type { TraceContextPropagatorOptions } from './trace-context-propagator.js';
export { TraceContextPropagator, TRACEPARENT_HEADER, TRACESTATE_HEADER } from './trace-context-propagator.js';
export { BaggagePropagator, BAGGAGE_HEADER } from './baggage-propagator.js';
export { W3CPropagator, defaultPropagator, resolvePropagator } from './w3c-propagator.js';
export type { HeaderRecord } from './header-carrier.js';
export { headerGetter, headerSetter } from './header-carrier.js';
export type { Trust, TrustMode } from './trust.js';
export { checkTrust, decideTrust, isTrustMode } from './trust.js';
export type { TracerOptions } from './tracer.js';
export { resolveTracer } from './tracer.js';
export {
  SpanScope,
  runInScope,
  isPromiseLike,
  isNativePromise,
  errorType,
  errorMessageOf,
  ATTR_ERROR_TYPE,
} from './span-scope.js';
export type {
  AdapterIdentity,
  IncomingCaller,
  IncomingOptions,
  IncomingShape,
  IncomingSpans,
  OutgoingSpans,
  TracingOptions,
} from './span-lifecycle.js';
export { createIncomingSpans, createOutgoingSpans } from './span-lifecycle.js';
export type { Outcome } from './outcome.js';
export { observeOutcome, observeInScope, runInScopeAsIs, innermostCause, causeErrorType } from './outcome.js';
export type {
  MessageCarrier,
  MessageSend,
  MessageSendOptions,
  MessageSendSpans,
  OutgoingMessage,
  SendCall,
} from './message-send.js';
export {
  createMessageSendSpans,
  ATTR_MESSAGING_BATCH_MESSAGE_COUNT,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
} from './message-send.js';
export { reportOnce } from './report.js';
export { reportRejection } from './rejection.js';
export { VERSION } from './version.js';
export { isTracingSuppressed, suppressTracing } from './suppressed.js';
