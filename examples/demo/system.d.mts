// Types for system.mjs, for the end-to-end test.
import type { NormalisedSpan, OtlpReceiver } from '@tracewire/node';

export interface OrderItem {
  sku: string;
  quantity: number;
}

export interface DemoOrder {
  label: string;
  items: OrderItem[];
  /** Skus inventory does not know: their reservation fails with NOT_FOUND. */
  unknown?: string[];
}

export interface RunNames {
  runId: string;
  topic: string;
  group: string;
  exchange: string;
  queue: string;
}

export interface PlacedOrder {
  status: number;
  body: unknown;
  /** From the gateway's `Server-Timing: traceparent;desc=...`. */
  traceId: string;
  /** The gateway's SERVER span: the root of the trace. */
  rootSpanId: string;
}

export interface StartOptions {
  /** Every output line of every service. */
  log?: (service: string, line: string) => void;
  /** How long the services may take to print `ready`; default 90 s. */
  readyTimeoutMs?: number;
  /** Collect spans in a local OTLP receiver; default true unless OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set. */
  localReceiver?: boolean;
  /** More environment for the services. */
  env?: Record<string, string>;
}

export interface DemoSystem {
  names: RunNames;
  brokers: { kafkaBrokers: string; amqpUrl: string; started: string[] };
  /** The local receiver; undefined when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set. */
  receiver: OtlpReceiver | undefined;
  /** That endpoint, when set. */
  external: string | undefined;
  gatewayUrl: string;
  placeOrder(order: DemoOrder): Promise<PlacedOrder>;
  /** The trace's spans, once as many arrived as the order makes; rejects with what is missing. */
  waitForTrace(traceId: string, order: DemoOrder, timeoutMs?: number): Promise<NormalisedSpan[]>;
  waitForLog(service: string, pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** The service's last output lines. */
  logs(service: string): string[];
  /** Stops the services (SIGTERM, then SIGKILL), the receiver, and deletes the run's topic. */
  stop(): Promise<void>;
}

export declare const DEMO_ORDERS: readonly DemoOrder[];
export declare const SERVICES: readonly string[];
export declare function startSystem(options?: StartOptions): Promise<DemoSystem>;
export declare function externalEndpoint(): string | undefined;
