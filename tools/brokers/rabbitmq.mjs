// Step 4 for RabbitMQ: Debian's rabbitmq-server package, run by us as a
// private node whose config, data, logs and Erlang cookie all live in the cache
// dir. That avoids depending on systemd (absent in containers/CI sandboxes)
// and on whatever /etc/rabbitmq and /var/lib/rabbitmq hold.
import { chmodSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { amqpReady } from './probe.mjs';
import {
  cacheRoot,
  ensureDir,
  isAlive,
  log,
  readPid,
  run,
  sleep,
  spawnDetached,
  tail,
  tcpOpen,
  terminate,
  waitFor,
  which,
  withLock,
} from './util.mjs';

export const HOST = '127.0.0.1';
export const PORT = 5672;
// guest/guest is only accepted over loopback, which is all we listen on.
export const URL = `amqp://guest:guest@${HOST}:${PORT}`;
const NODE = 'tracewire@localhost'; // "localhost": independent of the machine's hostname
const MARKER = 'rabbit'; // in the command line of both the start script and beam.smp

// Debian puts the real scripts here; /usr/sbin/* are wrappers that switch to
// the `rabbitmq` user and its HOME, which could not read our cache dir.
const LIB_BIN = '/usr/lib/rabbitmq/bin';

export function paths() {
  const dir = join(cacheRoot(), 'rabbitmq');
  return {
    dir,
    home: join(dir, 'home'), // $HOME: holds the Erlang cookie shared by server and rabbitmqctl
    pid: join(dir, 'rabbitmq.pid'), // the process we spawned (group leader)
    lock: join(dir, '.lock'),
    log: join(dir, 'rabbitmq.log'), // start script + Erlang output
    serverLog: join(dir, 'log', 'rabbit.log'), // RabbitMQ's own log
    installLog: join(dir, 'install.log'),
  };
}

export function runningPid() {
  const pid = readPid(paths().pid);
  return isAlive(pid, MARKER) ? pid : undefined;
}

const bin = (name) => which(name, [join(LIB_BIN, name)]);

/** apt-get install rabbitmq-server when it is missing and we may. */
async function ensureInstalled(p) {
  if (bin('rabbitmq-server')) return;
  if (process.getuid?.() !== 0 || !which('apt-get')) {
    throw new Error(
      'rabbitmq-server is not installed (install it, e.g. `apt-get install rabbitmq-server`, or set AMQP_URL)',
    );
  }
  log('rabbitmq', `installing Debian package rabbitmq-server (log: ${p.installLog})`);
  // The package's postinst starts the service; without systemd that fails or
  // starts a second node on our port. A policy-rc.d that answers 101
  // ("action forbidden") makes invoke-rc.d skip it. Only ours if none exists.
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) {
    writeFileSync(policy, '#!/bin/sh\n# temporary, from tracewire tools/brokers\nexit 101\n');
    chmodSync(policy, 0o755);
  }
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const lock = ['-o', 'DPkg::Lock::Timeout=300'];
    await run('apt-get', [...lock, 'update'], { logFile: p.installLog, env, timeoutMs: 10 * 60_000 });
    await run('apt-get', [...lock, 'install', '-y', '--no-install-recommends', 'rabbitmq-server'], {
      logFile: p.installLog,
      env,
      timeoutMs: 15 * 60_000,
    });
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
  if (!bin('rabbitmq-server'))
    throw new Error(`rabbitmq-server still missing after apt-get; log: ${p.installLog}`);
}

/** Environment of our private node, shared by rabbitmq-server and rabbitmqctl. */
function nodeEnv(p) {
  return {
    ...process.env,
    HOME: p.home,
    RABBITMQ_NODENAME: NODE,
    RABBITMQ_NODE_IP_ADDRESS: HOST,
    RABBITMQ_NODE_PORT: String(PORT),
    RABBITMQ_CONF_ENV_FILE: join(p.dir, 'rabbitmq-env.conf'), // empty: ignore /etc/rabbitmq's
    RABBITMQ_CONFIG_FILE: join(p.dir, 'rabbitmq.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(p.dir, 'enabled_plugins'), // none: faster boot
    RABBITMQ_MNESIA_BASE: join(p.dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(p.dir, 'log'),
    RABBITMQ_LOGS: p.serverLog,
    RABBITMQ_PID_FILE: join(p.dir, 'beam.pid'),
    ERL_EPMD_ADDRESS: HOST, // epmd (started by Erlang, outlives the node) stays on loopback
  };
}

function writeConfig(p) {
  ensureDir(p.home);
  ensureDir(join(p.dir, 'log'));
  writeFileSync(join(p.dir, 'rabbitmq-env.conf'), '# intentionally empty, see tools/brokers/rabbitmq.mjs\n');
  writeFileSync(join(p.dir, 'enabled_plugins'), '[].\n');
  writeFileSync(
    join(p.dir, 'rabbitmq.conf'),
    [
      `listeners.tcp.default = ${HOST}:${PORT}`,
      'loopback_users.guest = true',
      // A nearly full CI disk must not block publishers mid-test.
      'disk_free_limit.absolute = 50MB',
      '',
    ].join('\n'),
  );
}

/**
 * Launch (or adopt an already launched) local RabbitMQ and wait until AMQP works.
 * @returns {Promise<{address: string, started: boolean}>}
 */
export async function startLocal({ timeoutMs = 120_000 } = {}) {
  const p = paths();
  ensureDir(p.dir);
  return withLock(p.lock, async () => {
    let pid = runningPid();
    const started = !pid;
    if (!pid) {
      if (await tcpOpen(HOST, PORT))
        throw new Error(`${HOST}:${PORT} is taken by something that is not a working RabbitMQ`);
      await ensureInstalled(p);
      writeConfig(p);
      log('rabbitmq', `starting RabbitMQ node ${NODE} on ${HOST}:${PORT} (logs: ${p.log} ${p.serverLog})`);
      // Foreground mode, detached by us: the pid we record is the node's.
      const child = spawnDetached(bin('rabbitmq-server'), [], {
        logFile: p.log,
        cwd: p.dir,
        env: nodeEnv(p),
      });
      pid = child.pid;
      writeFileSync(p.pid, `${pid}\n`);
    } else {
      log('rabbitmq', `local RabbitMQ already running (pid ${pid}); waiting for it to be ready`);
    }
    const t0 = Date.now();
    try {
      await waitFor('local RabbitMQ', () => amqpReady(URL), {
        timeoutMs,
        maxDelayMs: 1000,
        abort: () => (isAlive(pid, MARKER) ? undefined : 'the rabbitmq-server process exited'),
      });
    } catch (e) {
      throw new Error(
        `${e.message}\nlogs: ${p.log} ${p.serverLog} ${p.installLog}\n--- tail of ${p.log} ---\n${tail(p.log)}`,
      );
    }
    log('rabbitmq', `ready at ${HOST}:${PORT} after ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    return { address: URL, started };
  });
}

/** Stop the node we launched, if any. Idempotent. */
export async function stopLocal() {
  const p = paths();
  const pid = runningPid();
  if (pid) {
    log('rabbitmq', `stopping local RabbitMQ (pid ${pid})`);
    // A clean stop through the node itself first; signals as the fallback.
    const ctl = bin('rabbitmqctl');
    if (ctl) {
      await run(ctl, ['-n', NODE, 'stop'], { logFile: p.log, env: nodeEnv(p), timeoutMs: 60_000 }).catch(
        () => {},
      );
    }
    for (let i = 0; i < 40 && isAlive(pid, MARKER); i++) await sleep(250);
    if (isAlive(pid, MARKER)) await terminate(pid, 20_000);
  }
  rmSync(p.pid, { force: true });
  return Boolean(pid);
}
