// The floor's spans: copies of the shapes tracewire's spans had in a sampled operation (name,
// kind, attributes, links, events), made by hand with the OTel API. Nothing is computed per
// operation: the floor is what any instrumentation making these spans must pay.
import { trace } from '@opentelemetry/api';
import { REMOTE_LINK } from './constants.mjs';

export const floorTracer = () => trace.getTracer('bench-floor');

/** The first sampled shape of `kind` that `test` accepts; fails loudly when tracewire made none. */
export function pick(template, kind, test = () => true) {
  const shape = template.find((candidate) => candidate.kind === kind && test(candidate));
  if (shape === undefined) throw new Error(`floor: tracewire made no span of kind ${kind} to copy`);
  return shape;
}

export function count(template, kind, test = () => true) {
  return template.filter((candidate) => candidate.kind === kind && test(candidate)).length;
}

/** Links as many as the shape had, all to the caller's constant context. */
export function linksOf(shape) {
  if (shape.links === 0) return undefined;
  return Array.from({ length: shape.links }, () => REMOTE_LINK);
}

export function startFrom(tracer, shape, parent, links = linksOf(shape)) {
  return tracer.startSpan(shape.name, { kind: shape.kind, attributes: shape.attributes, links }, parent);
}

/**
 * A copy of `object` with `key` set, built as the adapters build theirs (Object.assign, then the
 * key): on Node 20 a spread then a key the object lacks takes a slow path (1-2 µs), which would
 * make the floor dearer than the adapter it bounds.
 */
export function withKey(object, key, value) {
  const copy = Object.assign({}, object);
  copy[key] = value;
  return copy;
}

/** Adds the shape's events and status, then ends the span. */
export function endLike(span, shape) {
  for (const event of shape.events) span.addEvent(event.name, event.attributes);
  if (shape.status === 2) span.setStatus({ code: 2 });
  span.end();
}

/**
 * A producer's floor: splits the spans tracewire made in one send of `perSend` messages into those
 * made once per message and those made once per send, and wraps `send(record, stamp)` so each call
 * makes them by hand around it. `stamp(message)` returns the message with the constant header.
 */
export function floorSender(template, perSend, send, stamp) {
  const tracer = floorTracer();
  const groups = new Map();
  for (const shape of template) {
    const key = `${shape.kind} ${shape.name}`;
    groups.set(key, [...(groups.get(key) ?? []), shape]);
  }
  const perMessage = [];
  const perCall = [];
  for (const list of groups.values()) {
    if (list.length === perSend) perMessage.push(list[0]);
    else if (list.length === 1) perCall.push(list[0]);
    else throw new Error(`floor: ${list.length} spans of "${list[0].name}" in a send of ${perSend}`);
  }
  return {
    async send(record) {
      const spans = [];
      for (const shape of perCall) spans.push([startFrom(tracer, shape, undefined), shape]);
      const messages = record.messages.map((message) => {
        for (const shape of perMessage) spans.push([startFrom(tracer, shape, undefined), shape]);
        return stamp(message);
      });
      try {
        return await send({ ...record, messages });
      } finally {
        for (const [span, shape] of spans) endLike(span, shape);
      }
    },
  };
}

/** Compares two sampled operations; returns the differences as text (empty when they match). */
export function compareShapes(expected, actual) {
  const key = (shape) =>
    `${shape.kind}|${shape.name}|${Object.keys(shape.attributes)
      .filter((name) => shape.attributes[name] !== undefined)
      .sort()
      .join(',')}|links ${shape.links}|events ${shape.events.map((event) => event.name).join(',')}`;
  const left = expected.map(key).sort();
  const right = actual.map(key).sort();
  const missing = left.filter((entry) => !right.includes(entry));
  const extra = right.filter((entry) => !left.includes(entry));
  if (left.length !== right.length) missing.push(`count ${left.length} vs ${right.length}`);
  return [
    ...missing.map((entry) => `tracewire only: ${entry}`),
    ...extra.map((entry) => `floor only: ${entry}`),
  ];
}
