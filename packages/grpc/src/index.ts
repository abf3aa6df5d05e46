export type { ClientInterceptorOptions } from './client-interceptor.js';
export { clientInterceptor } from './client-interceptor.js';
export type { GrpcServerRequest, ServerInterceptorOptions } from './server-interceptor.js';
export { serverInterceptor } from './server-interceptor.js';
export { metadataGetter, metadataSetter } from './metadata-carrier.js';
export { VERSION } from './version.js';
