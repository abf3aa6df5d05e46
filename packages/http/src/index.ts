export type { HttpClientOptions } from './options.js';
export type { FetchFunction } from './fetch.js';
export { traceFetch } from './fetch.js';
export type { Dispatch, DispatchInterceptor, DispatchOptions } from './interceptor.js';
export { traceInterceptor } from './interceptor.js';
export type { RequestFunction } from './node-request.js';
export { traceRequest } from './node-request.js';
export type { InjectHeadersOptions } from './inject-headers.js';
export { injectHeaders } from './inject-headers.js';
// For server adapters (@tracewire/express, @tracewire/fastify): the SERVER span's semantics.
export { ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE } from './attribute-names.js';
export { nameMethod } from './http-method.js';
export { serverRequestAttributes } from './server-attributes.js';
export { incomingHeaders } from './incoming-headers.js';
export type { HttpServerMetadata } from './instrumentation-span.js';
export { httpServerSpan } from './instrumentation-span.js';
export { VERSION } from './version.js';
