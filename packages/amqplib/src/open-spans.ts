import type { SpanScope } from '@tracewire/core';
import { ATTR_REQUEUE, ATTR_SETTLEMENT } from './attributes.js';

/** How a consumed or got message was settled, or why its span was ended without its handler. */
export type Settlement =
  | 'ack'
  | 'nack'
  | 'reject'
  | 'recover'
  | 'timeout'
  | 'channel_closed'
  | 'connection_closed';

/** Why the spans still open on a channel are ended: it or its connection closed. */
export interface Closing {
  settlement: 'channel_closed' | 'connection_closed';
  /** `error.type`: the broker's reply (`NOT_FOUND`, `PRECONDITION_FAILED`), else the settlement. */
  type: string;
  message: string;
}

interface Entry {
  scope: SpanScope;
  deadline: number;
  noAck: boolean;
}

/**
 * The process spans of one channel whose handler has not settled yet, by delivery tag. Only
 * handlers still running are here (an entry leaves when its handler settles), so the map stays
 * small and settlement costs what it settles. Tags grow with arrival, so insertion order is tag
 * order and deadline order: a bulk ack stops at the first later tag, and one unref'd timer, set
 * for the oldest deadline, sweeps spans whose handler never settles.
 */
export class OpenSpans {
  readonly #entries = new Map<number, Entry>();
  /** The open spans not settled yet: a settlement moves them out, so none is visited twice. */
  readonly #unsettled = new Map<number, Entry>();
  /**
   * Every tag below this has been settled with allUpTo. The broker numbers a channel's deliveries
   * 1, 2, 3...: a bulk settlement walks the tags from here instead of iterating the map, whose
   * deleted front entries V8 would step over again on every call.
   */
  #floor = 1;
  /** The highest tag entered: a bulk walk never goes past it, whatever tag the app passes. */
  #highest = 0;
  readonly #timeoutMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #sweep = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    for (const [tag, entry] of this.#entries) {
      if (entry.deadline > now) break;
      this.#entries.delete(tag);
      this.#unsettled.delete(tag);
      entry.scope.setAttributes({ [ATTR_SETTLEMENT]: 'timeout' });
      entry.scope.end();
    }
    this.#schedule();
  };

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** `settled`: the handler already settled its message before returning (nothing more to record). */
  add(deliveryTag: number, scope: SpanScope, noAck: boolean, settled = false): void {
    const previous = this.#entries.get(deliveryTag);
    if (previous) {
      this.#entries.delete(deliveryTag);
      previous.scope.end();
    }
    const entry: Entry = { scope, deadline: performance.now() + this.#timeoutMs, noAck };
    this.#entries.set(deliveryTag, entry);
    if (!noAck && !settled) this.#unsettled.set(deliveryTag, entry);
    if (deliveryTag > this.#highest) this.#highest = deliveryTag;
    if (this.#timer === undefined) this.#schedule();
  }

  /** The handler of `deliveryTag` settled: its span is ended by the caller. */
  remove(deliveryTag: number, scope: SpanScope): void {
    if (this.#entries.get(deliveryTag)?.scope !== scope) return;
    this.#entries.delete(deliveryTag);
    this.#unsettled.delete(deliveryTag);
  }

  /**
   * Records a settlement on the open spans it covers: `deliveryTag` alone, or with `allUpTo`
   * every tag up to it (0: all), as amqplib's ack/nack do. The spans stay open until their handler settles.
   */
  settle(deliveryTag: number, allUpTo: boolean, settlement: Settlement, requeue?: boolean): void {
    if (allUpTo && deliveryTag === 0) {
      this.settleAll(settlement, requeue);
      return;
    }
    if (this.#unsettled.size === 0) {
      if (allUpTo && deliveryTag >= this.#floor) this.#floor = deliveryTag + 1;
      return;
    }
    if (!allUpTo) {
      const entry = this.#unsettled.get(deliveryTag);
      if (!entry) return;
      this.#unsettled.delete(deliveryTag);
      record(entry.scope, settlement, requeue);
      return;
    }
    const last = Math.min(deliveryTag, this.#highest);
    for (let tag = this.#floor; tag <= last && this.#unsettled.size > 0; tag++) {
      const entry = this.#unsettled.get(tag);
      if (!entry) continue;
      this.#unsettled.delete(tag);
      record(entry.scope, settlement, requeue);
    }
    if (deliveryTag >= this.#floor) this.#floor = deliveryTag + 1;
  }

  settleAll(settlement: Settlement, requeue?: boolean): void {
    for (const entry of this.#unsettled.values()) record(entry.scope, settlement, requeue);
    this.#unsettled.clear();
  }

  /**
   * The channel or connection closed: nothing more can settle, so every open span ends. A message
   * that needed an ack is marked ERROR (it goes back to the queue); a noAck one only records it.
   */
  close(closing: Closing): void {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    this.#unsettled.clear();
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    for (const { scope, noAck } of entries) {
      scope.setAttributes({ [ATTR_SETTLEMENT]: closing.settlement });
      if (!noAck) scope.failWith(closing.type, closing.message);
      scope.end();
    }
  }

  #schedule(): void {
    const first = this.#entries.values().next();
    if (first.done) return;
    const delay = Math.max(1, Math.ceil(first.value.deadline - performance.now()));
    this.#timer = setTimeout(this.#sweep, delay);
    this.#timer.unref?.();
  }
}

/** A settlement is an outcome the app chose, recorded as such: a nack or reject is not an ERROR. */
export function record(scope: SpanScope, settlement: Settlement, requeue?: boolean): void {
  if (scope.ended) return;
  scope.span.setAttribute(ATTR_SETTLEMENT, settlement);
  if (requeue !== undefined) scope.span.setAttribute(ATTR_REQUEUE, requeue);
}
