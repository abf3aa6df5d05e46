export type { ProducerTracingOptions, KafkaSender } from './trace-producer.js';
export { traceProducer } from './trace-producer.js';
export type { ConsumedMessage, ConsumerTracingOptions } from './consumer-spans.js';
export type { TraceMessage } from './trace-consumer.js';
export { messageTracer, traceHandler } from './trace-consumer.js';
export type { HeaderFormat, KafkaHeaders, OutgoingHeaders } from './headers.js';
export { kafkaHeaderGetter, kafkaHeaderSetter, removeKafkaHeader } from './headers.js';
export { VERSION } from './version.js';
