// inventory: a gRPC service that reserves stock; an unknown sku is NOT_FOUND.
// Env: INVENTORY_ADDRESS (host:port).
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { serverInterceptor } from '@tracewire/grpc';
import { startTracing } from '@tracewire/node';

startTracing({ serviceName: 'inventory', exporter: 'otlp' });

const proto = protoLoader.loadSync(fileURLToPath(new URL('../proto/inventory.proto', import.meta.url)));
const { inventory } = grpc.loadPackageDefinition(proto);
const stock = new Map([
  ['apple', 1000],
  ['pear', 1000],
  ['plum', 1000],
  ['fig', 1000],
]);

// Every call gets a SERVER span `inventory.Inventory/Reserve`, child of the client's span. Only
// statuses that mean the server failed (INTERNAL, UNAVAILABLE, ...) mark it ERROR: NOT_FOUND is
// the caller's problem, so it is an error on the client's span only.
const server = new grpc.Server({ interceptors: [serverInterceptor()] });
server.addService(inventory.Inventory.service, {
  async Reserve({ request }, callback) {
    await sleep(5 + Math.random() * 20); // stands in for a database lookup
    const available = stock.get(request.sku);
    if (available === undefined) {
      callback({ code: grpc.status.NOT_FOUND, details: `unknown item ${request.sku}` });
    } else if (available < request.quantity) {
      callback({ code: grpc.status.FAILED_PRECONDITION, details: `only ${available} ${request.sku} left` });
    } else {
      stock.set(request.sku, available - request.quantity);
      callback(null, { sku: request.sku, remaining: available - request.quantity });
    }
  },
});

const { INVENTORY_ADDRESS } = process.env;
server.bindAsync(INVENTORY_ADDRESS, grpc.ServerCredentials.createInsecure(), (error) => {
  if (error) throw error;
  console.log(`inventory ready on ${INVENTORY_ADDRESS}`);
});
