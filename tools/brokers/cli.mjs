#!/usr/bin/env node
// `node tools/brokers/cli.mjs up|down|status|restart kafka|rabbitmq` (also `npm run brokers -- ...`).
// stdout carries only results (`up`: KAFKA_BROKERS=... / AMQP_URL=... lines,
// so `eval "$(npm run -s brokers -- up)"`-style use works); progress goes to stderr.
import { parseArgs } from 'node:util';
import { down, restart, startInstance, status, stopInstance, up } from './index.mjs';
import * as kafka from './kafka.mjs';
import * as rabbitmq from './rabbitmq.mjs';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    instance: { type: 'string' },
    port: { type: 'string' },
    hard: { type: 'boolean' },
  },
});
const [cmd, broker] = positionals;
const USAGE =
  'usage: node tools/brokers/cli.mjs up|down|status\n' +
  '       node tools/brokers/cli.mjs restart kafka|rabbitmq [--instance NAME] [--hard]\n' +
  '       node tools/brokers/cli.mjs start|stop kafka|rabbitmq --instance NAME [--port N] [--hard]\n';

function brokerArg() {
  if (broker !== 'kafka' && broker !== 'rabbitmq') throw new Error(`expected kafka or rabbitmq\n${USAGE}`);
  return broker;
}
const instanceOptions = () => ({
  instance: values.instance,
  hard: values.hard,
  ...(values.port ? { port: Number(values.port) } : {}),
});

async function main() {
  switch (cmd) {
    case 'up': {
      const t0 = Date.now();
      const r = await up();
      process.stderr.write(
        `[brokers] up in ${((Date.now() - t0) / 1000).toFixed(1)}s; started: ${r.started.join(', ') || 'nothing (reused)'}\n`,
      );
      process.stdout.write(`KAFKA_BROKERS=${r.kafkaBrokers}\nAMQP_URL=${r.amqpUrl}\n`);
      break;
    }
    case 'down': {
      const stopped = await down();
      process.stdout.write(`stopped: ${stopped.join(', ') || 'nothing'}\n`);
      break;
    }
    case 'restart': {
      const r = await restart(brokerArg(), instanceOptions());
      process.stderr.write(`[brokers] ${broker} restarted; down for ${(r.downForMs / 1000).toFixed(1)}s\n`);
      process.stdout.write(`${broker === 'kafka' ? 'KAFKA_BROKERS' : 'AMQP_URL'}=${r.address}\n`);
      break;
    }
    case 'start': {
      const r = await startInstance(brokerArg(), instanceOptions());
      process.stdout.write(`${broker === 'kafka' ? 'KAFKA_BROKERS' : 'AMQP_URL'}=${r.address}\n`);
      break;
    }
    case 'stop': {
      const stopped = await stopInstance(brokerArg(), instanceOptions());
      process.stdout.write(`stopped: ${stopped ? `${broker}:${values.instance}` : 'nothing'}\n`);
      break;
    }
    case 'status':
      process.stdout.write(`${JSON.stringify(await status(), null, 2)}\n`);
      break;
    default:
      process.stderr.write(USAGE);
      process.exitCode = 2;
  }
}

main().then(
  // kafkajs/amqplib may leave timers behind; do not let them hold the CLI open.
  () => process.exit(process.exitCode ?? 0),
  (e) => {
    const k = kafka.paths();
    const r = rabbitmq.paths();
    process.stderr.write(
      `\n[brokers] ${cmd} failed:\n${e?.message ?? e}\n\nlog files:\n` +
        `  ${k.setupLog}\n  ${k.log}\n  ${r.installLog}\n  ${r.log}\n  ${r.serverLog}\n`,
    );
    process.exit(1);
  },
);
