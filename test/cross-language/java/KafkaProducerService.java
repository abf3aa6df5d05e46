// A Kafka producer traced with the OpenTelemetry Java SDK, for test/cross-language/java.test.ts.
// In a root span it sends one record from a PRODUCER span whose W3C context (traceparent, and the
// baggage entry tenant=TENANT) the SDK's propagators write into the record's headers. Spans go to
// OTLP_TRACES_URL as OTLP/HTTP protobuf. Prints one JSON line, then exits 0.
// Env: KAFKA_BROKERS, TOPIC, OTLP_TRACES_URL, TENANT. Run as a source file: java -cp 'jars/*' ...
import io.opentelemetry.api.baggage.Baggage;
import io.opentelemetry.api.baggage.propagation.W3CBaggagePropagator;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.context.propagation.TextMapPropagator;
import io.opentelemetry.exporter.otlp.http.trace.OtlpHttpSpanExporter;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.resources.Resource;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.StringSerializer;

public class KafkaProducerService {
  public static void main(String[] args) throws Exception {
    String brokers = System.getenv("KAFKA_BROKERS");
    String topic = System.getenv("TOPIC");
    String otlpUrl = System.getenv("OTLP_TRACES_URL");
    String tenant = System.getenv().getOrDefault("TENANT", "acme");

    SdkTracerProvider provider =
        SdkTracerProvider.builder()
            .setResource(
                Resource.getDefault()
                    .merge(Resource.create(Attributes.of(AttributeKey.stringKey("service.name"), "java-producer"))))
            .addSpanProcessor(
                BatchSpanProcessor.builder(OtlpHttpSpanExporter.builder().setEndpoint(otlpUrl).build()).build())
            .build();
    OpenTelemetrySdk otel =
        OpenTelemetrySdk.builder()
            .setTracerProvider(provider)
            .setPropagators(
                ContextPropagators.create(
                    TextMapPropagator.composite(
                        W3CTraceContextPropagator.getInstance(), W3CBaggagePropagator.getInstance())))
            .build();
    Tracer tracer = otel.getTracer("tracewire.cross-language.java");

    Properties config = new Properties();
    config.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, brokers);
    config.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    config.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
    config.put(ProducerConfig.CLIENT_ID_CONFIG, "java-producer");

    Span root = tracer.spanBuilder("publish order").startSpan();
    Span send;
    RecordMetadata sent;
    List<String> headers = new ArrayList<>();
    try (KafkaProducer<String, String> producer = new KafkaProducer<>(config);
        Scope rootScope = root.makeCurrent();
        Scope baggageScope = Baggage.current().toBuilder().put("tenant", tenant).build().makeCurrent()) {
      send =
          tracer
              .spanBuilder("send " + topic)
              .setSpanKind(SpanKind.PRODUCER)
              .setAttribute("messaging.system", "kafka")
              .setAttribute("messaging.destination.name", topic)
              .setAttribute("messaging.operation.type", "send")
              .setAttribute("messaging.operation.name", "send")
              .startSpan();
      try (Scope sendScope = send.makeCurrent()) {
        ProducerRecord<String, String> record = new ProducerRecord<>(topic, "order-1", "{\"from\":\"java\"}");
        otel.getPropagators()
            .getTextMapPropagator()
            .inject(
                Context.current(),
                record,
                (carrier, key, value) -> carrier.headers().add(key, value.getBytes(StandardCharsets.UTF_8)));
        for (Header header : record.headers()) {
          headers.add(json(header.key()) + ":" + json(new String(header.value(), StandardCharsets.UTF_8)));
        }
        sent = producer.send(record).get(30, TimeUnit.SECONDS);
        send.setAttribute("messaging.destination.partition.id", String.valueOf(sent.partition()));
        send.setAttribute("kafka.offset", sent.offset());
      } finally {
        send.end();
      }
    } finally {
      root.end();
    }
    // Exports every pending span before the process ends.
    provider.shutdown().join(30, TimeUnit.SECONDS);

    System.out.println(
        "{\"traceId\":" + json(root.getSpanContext().getTraceId())
            + ",\"rootSpanId\":" + json(root.getSpanContext().getSpanId())
            + ",\"sendSpanId\":" + json(send.getSpanContext().getSpanId())
            + ",\"partition\":" + sent.partition()
            + ",\"offset\":" + sent.offset()
            + ",\"headers\":{" + String.join(",", headers) + "}}");
  }

  /** A JSON string literal; the values here are ASCII header text and ids. */
  private static String json(String value) {
    return "\"" + value.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }
}
