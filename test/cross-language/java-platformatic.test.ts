// Cross-language proof over Kafka, for the @platformatic/kafka consumer: the same Java
// OpenTelemetry SDK producer as java.test.ts writes W3C traceparent and baggage into the record
// headers; a tracewire @platformatic/kafka consumer (a separate node process running the built
// packages, `for await` with messageTracer) continues that trace.
// Spans go over OTLP/HTTP (protobuf from Java, JSON from tracewire) to one local receiver.
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { SpanKind } from '@opentelemetry/api';
import {
  type NormalisedSpan,
  type OtlpReceiver,
  type ReceivedRequest,
  startOtlpReceiver,
} from '@tracewire/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Service,
  buildPackages,
  cleanEnv,
  lastJsonLine,
  mavenClasspath,
  only,
  runCommand,
  startNodeService,
} from './support.js';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
const TENANT = 'acme/zürich';
const BAGGAGE_HEADER = 'tenant=acme%2Fz%C3%BCrich';
const JAVA = 'java-producer';
const CONSUMER = 'tracewire-consumer';

/** What KafkaProducerService.java prints. */
interface JavaReport {
  traceId: string;
  rootSpanId: string;
  sendSpanId: string;
  partition: number;
  offset: number;
  headers: Record<string, string>;
}

/** What platformatic-consumer.mjs prints for a message. */
interface Consumed {
  tenant: string | null;
  headers: Record<string, string>;
  value: string;
}

interface Outcome {
  report: JavaReport;
  consumed: Consumed;
  spans: NormalisedSpan[];
  requests: ReceivedRequest[];
}

function kafkaBrokers(): string {
  const brokers = process.env.KAFKA_BROKERS?.trim();
  if (!brokers) throw new Error('KAFKA_BROKERS is not set: run this test in the vitest "brokers" project');
  return brokers;
}

describe('cross-language: a Java OpenTelemetry SDK producer and a tracewire @platformatic/kafka consumer in one trace', () => {
  const topic = `xl-java-plt-${randomUUID()}`;
  const group = `xl-java-plt-${randomUUID()}`;
  let receiver: OtlpReceiver | undefined;
  let consumer: Service | undefined;
  let classpath = '';
  let outcome: Promise<Outcome> | undefined;

  // Missing Java, Maven Central, Kafka or a failed build fails the suite here; it never skips.
  beforeAll(async () => {
    await buildPackages();
    classpath = await mavenClasspath('java-otel-kafka', here('./java/pom.xml'));
    receiver = await startOtlpReceiver();
    consumer = startNodeService(
      here('./platformatic-consumer.mjs'),
      cleanEnv({
        KAFKA_BROKERS: kafkaBrokers(),
        TOPIC: topic,
        GROUP: group,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
      }),
    );
    await consumer.waitForLine(/^ready$/, 60_000);
  }, 600_000);

  afterAll(async () => {
    consumer?.child.kill('SIGKILL');
    await receiver?.close();
  });

  /** Runs the Java producer once; every test asserts on the same outcome. */
  const scenario = (): Promise<Outcome> => {
    outcome ??= (async () => {
      if (!receiver || !consumer) throw new Error('the setup did not complete');
      const stdout = await runCommand(
        process.env.JAVA ?? 'java',
        ['-cp', classpath, here('./java/KafkaProducerService.java')],
        {
          env: cleanEnv({
            KAFKA_BROKERS: kafkaBrokers(),
            TOPIC: topic,
            OTLP_TRACES_URL: receiver.url,
            TENANT,
          }),
          timeoutMs: 90_000,
        },
      );
      const report = lastJsonLine<JavaReport>(stdout);
      const line = await consumer.waitForLine(/^consumed (.*)$/, 30_000);
      const consumed = JSON.parse(line[1]!) as Consumed;
      await consumer.stop();
      // Both processes flushed before ending; a missing span shows up in the assertions below.
      const spans = await receiver.waitForSpans(3, 10_000).catch(() => receiver?.spans() ?? []);
      return { report, consumed, spans, requests: receiver.requests() };
    })();
    return outcome;
  };

  it('Java wrote W3C traceparent and baggage into the record headers, and the consumer read them', async () => {
    const { report, consumed } = await scenario();
    expect(report.traceId).toMatch(/^[0-9a-f]{32}$/);
    // The pinned Java SDK sets the Level 2 random bit as well as sampled.
    expect(report.headers).toEqual({
      traceparent: `00-${report.traceId}-${report.sendSpanId}-03`,
      baggage: BAGGAGE_HEADER,
    });
    expect(consumed.headers).toEqual(report.headers);
    expect(consumed.value).toBe('{"from":"java"}');
  });

  it('one trace: Java root -> Java PRODUCER -> tracewire CONSUMER (child and linked), no other root', async () => {
    const { report, spans } = await scenario();
    expect(spans).toHaveLength(3);
    expect(new Set(spans.map((span) => span.traceId))).toEqual(new Set([report.traceId]));
    const roots = spans.filter((span) => span.parentSpanId === undefined);
    expect(roots.map((span) => [span.serviceName, span.spanId])).toEqual([[JAVA, report.rootSpanId]]);

    const root = only(spans, JAVA, SpanKind.INTERNAL, 'publish order');
    const send = only(spans, JAVA, SpanKind.PRODUCER, `send ${topic}`);
    expect(send.spanId).toBe(report.sendSpanId);
    expect(send.parentSpanId).toBe(root.spanId);
    const processSpan = only(spans, CONSUMER, SpanKind.CONSUMER, `process ${topic}`);
    expect(processSpan.parentSpanId).toBe(send.spanId);
    expect(processSpan.links.map((link) => link.spanId)).toEqual([send.spanId]);
    expect(processSpan.attributes).toMatchObject({
      'messaging.system': 'kafka',
      'messaging.destination.name': topic,
      'messaging.operation.type': 'process',
      'messaging.consumer.group.name': group,
      'kafka.offset': report.offset,
    });
  });

  it('the baggage entry set in Java is current in the tracewire consumer handler', async () => {
    const { consumed, spans } = await scenario();
    expect(consumed.tenant).toBe(TENANT);
    expect(only(spans, CONSUMER, SpanKind.CONSUMER, `process ${topic}`).attributes['app.tenant']).toBe(
      TENANT,
    );
  });

  it('the receiver took Java spans as OTLP/HTTP protobuf and tracewire spans as OTLP/HTTP JSON', async () => {
    const { spans, requests } = await scenario();
    const countBy = (type: string): number =>
      requests.filter((request) => request.contentType === type).reduce((sum, r) => sum + r.spanCount, 0);
    expect(countBy('application/x-protobuf')).toBe(2);
    expect(countBy('application/json')).toBe(1);
    const java = spans.filter((span) => span.serviceName === JAVA);
    expect(new Set(java.map((span) => span.resourceAttributes['telemetry.sdk.language']))).toEqual(
      new Set(['java']),
    );
  });
});
