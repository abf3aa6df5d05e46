import type { SpanScope } from '@tracewire/core';
import { ATTR_REQUEUE, ATTR_SETTLEMENT } from './attributes.js';

/** How the span of a consumed or got message ended. */
export type Settlement = 'ack' | 'nack' | 'reject' | 'timeout' | 'channel_closed' | 'recover';

interface Entry {
  scope: SpanScope;
  deadline: number;
}

/**
 * The spans of one channel's unsettled messages, by delivery tag. Tags grow with arrival, so the
 * map's insertion order is both tag order and deadline order: one timer, set for the oldest
 * deadline and unref'd, sweeps expired spans and re-arms itself while messages are outstanding.
 */
export class Outstanding {
  readonly #entries = new Map<number, Entry>();
  readonly #timeoutMs: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #sweep = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    for (const [tag, entry] of this.#entries) {
      if (entry.deadline > now) break;
      this.#entries.delete(tag);
      finish(entry.scope, 'timeout');
    }
    this.#schedule();
  };

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  add(deliveryTag: number, scope: SpanScope): void {
    const previous = this.#entries.get(deliveryTag);
    if (previous) {
      this.#entries.delete(deliveryTag);
      previous.scope.end();
    }
    this.#entries.set(deliveryTag, { scope, deadline: performance.now() + this.#timeoutMs });
    if (this.#timer === undefined) this.#schedule();
  }

  /** Ends the span of `deliveryTag`, or with `allUpTo` of every tag up to it (0: all), as amqplib's ack/nack do. */
  settle(deliveryTag: number, allUpTo: boolean, settlement: Settlement, requeue?: boolean): void {
    if (!allUpTo) {
      const entry = this.#entries.get(deliveryTag);
      if (!entry) return;
      this.#entries.delete(deliveryTag);
      finish(entry.scope, settlement, requeue);
    } else if (deliveryTag === 0) {
      this.settleAll(settlement, requeue);
      return;
    } else {
      for (const [tag, entry] of this.#entries) {
        if (tag > deliveryTag) continue;
        this.#entries.delete(tag);
        finish(entry.scope, settlement, requeue);
      }
    }
    // The timer is left to run out even when nothing is outstanding: re-arming it per message
    // would cost more than one idle wake-up per timeout.
  }

  settleAll(settlement: Settlement, requeue?: boolean): void {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    this.#stop();
    for (const entry of entries) finish(entry.scope, settlement, requeue);
  }

  #schedule(): void {
    const first = this.#entries.values().next();
    if (first.done) return;
    const delay = Math.max(1, Math.ceil(first.value.deadline - performance.now()));
    this.#timer = setTimeout(this.#sweep, delay);
    this.#timer.unref?.();
  }

  #stop(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

function finish(scope: SpanScope, settlement: Settlement, requeue?: boolean): void {
  if (scope.ended) return;
  scope.span.setAttribute(ATTR_SETTLEMENT, settlement);
  if (requeue !== undefined) scope.span.setAttribute(ATTR_REQUEUE, requeue);
  if (settlement === 'nack' || settlement === 'reject') {
    scope.failWith(settlement, requeue ? `message ${settlement}ed and requeued` : `message ${settlement}ed`);
  } else if (settlement === 'channel_closed') {
    scope.failWith(settlement, 'channel closed before the message was settled');
  }
  scope.end();
}
