// `npm start`: FRAMEWORK=express|fastify (default express), PORT (default 5000), on 127.0.0.1.
import { registerTracing } from './tracing.mjs';

registerTracing();
// Imported after the SDK is registered, though tracewire needs no particular order.
const { startService } = await import('./app.mjs');
const framework = process.env.FRAMEWORK ?? 'express';
const { url } = await startService({ framework, port: Number(process.env.PORT ?? 5000) });
console.log(`W3C Trace Context test service (${framework}) listening on ${url}`);
