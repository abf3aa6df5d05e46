// The fault suites' own broker instances, on ports of their own: restarting them never touches
// the shared Kafka and RabbitMQ on 9092 and 5672 that every other suite uses.
// @ts-expect-error plain ESM module without type declarations
import * as launcher from '../../../tools/brokers/index.mjs';

type BrokerName = 'kafka' | 'rabbitmq';
interface Launcher {
  startInstance(name: BrokerName, o: { instance: string; port: number }): Promise<{ address: string }>;
  restart(
    name: BrokerName,
    o: { instance: string; hard?: boolean; onDown?: () => unknown },
  ): Promise<{ address: string; downForMs: number }>;
}
const brokers = launcher as Launcher;

const INSTANCE = 'faults';
// Kafka: 29092 and its controller on 29093; RabbitMQ: 25673 and Erlang distribution on 25674.
const PORTS: Record<BrokerName, number> = { kafka: 29092, rabbitmq: 25673 };

export interface PrivateBroker {
  address: string;
  /** Stops the broker and starts it again on the same port and data dir. */
  restart(options?: { hard?: boolean; onDown?: () => unknown }): Promise<{ downForMs: number }>;
}

/**
 * Starts (or adopts) this suite's own instance of `name` and waits until a client works. Like the
 * shared brokers, it is left running for the next run; `npm run brokers -- down` stops it.
 */
export async function privateBroker(name: BrokerName): Promise<PrivateBroker> {
  const { address } = await brokers.startInstance(name, { instance: INSTANCE, port: PORTS[name] });
  return {
    address,
    async restart(options = {}) {
      const { downForMs } = await brokers.restart(name, { instance: INSTANCE, ...options });
      return { downForMs };
    },
  };
}
