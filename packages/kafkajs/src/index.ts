export type { ProducerTracingOptions, KafkaSender } from './trace-producer.js';
export { traceProducer } from './trace-producer.js';
export type { ConsumedMessage, ConsumerTracingOptions } from './consumer-spans.js';
export type { TracedEachBatchHandler, TracedEachBatchPayload } from './trace-consumer.js';
export { traceEachMessage, traceEachBatch } from './trace-consumer.js';
export { kafkaHeaderGetter, kafkaHeaderSetter } from './kafka-headers.js';
export { VERSION } from './version.js';
