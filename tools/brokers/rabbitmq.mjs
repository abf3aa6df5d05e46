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
  kill,
  log,
  portClosed,
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
const MARKER = 'rabbit'; // in the command line of both the start script and beam.smp

// Debian puts the real scripts here; /usr/sbin/* are wrappers that switch to
// the `rabbitmq` user and its HOME, which could not read our cache dir.
const LIB_BIN = '/usr/lib/rabbitmq/bin';

/**
 * Which node: the default one (5672, `tracewire@localhost`) or a named extra instance with its
 * own port, node name and data dir (fault tests restart theirs without touching the shared one).
 * Erlang distribution listens on port + 20000 for the default node, on port + 1 for the others.
 * @typedef {{name: string, port: number, distPort: number, node: string, url: string}} Instance
 * @param {{name?: string, port?: number}} [o]
 * @returns {Instance}
 */
export function instance(o = {}) {
  const name = o.name ?? 'default';
  if (name === 'default')
    return { name, port: PORT, distPort: PORT + 20000, node: 'tracewire@localhost', url: URL };
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`rabbitmq instance name must be [a-z0-9-]+, got ${name}`);
  if (!o.port) throw new Error(`rabbitmq instance ${name} needs a port`);
  // "localhost": independent of the machine's hostname
  return {
    name,
    port: o.port,
    distPort: o.port + 1,
    node: `tracewire-${name}@localhost`,
    url: `amqp://guest:guest@${HOST}:${o.port}`,
  };
}

/** @param {Instance} [inst] */
export function paths(inst = instance()) {
  const dir = join(cacheRoot(), inst.name === 'default' ? 'rabbitmq' : `rabbitmq-${inst.name}`);
  return {
    dir,
    home: join(dir, 'home'), // $HOME: holds the Erlang cookie shared by server and rabbitmqctl
    pid: join(dir, 'rabbitmq.pid'), // the process we spawned (group leader)
    lock: join(dir, '.lock'),
    log: join(dir, 'rabbitmq.log'), // start script + Erlang output
    serverLog: join(dir, 'log', 'rabbit.log'), // RabbitMQ's own log
    installLog: join(dir, 'install.log'),
    // Installing is machine-wide: one lock for every instance.
    installLock: join(cacheRoot(), '.rabbitmq-install-lock'),
  };
}

/** @param {Instance} [inst] */
export function runningPid(inst = instance()) {
  const pid = readPid(paths(inst).pid);
  return isAlive(pid, MARKER) ? pid : undefined;
}

const bin = (name) => which(name, [join(LIB_BIN, name)]);

/** apt-get install rabbitmq-server when it is missing and we may. */
async function ensureInstalled(p) {
  if (bin('rabbitmq-server')) return;
  ensureDir(cacheRoot());
  return withLock(p.installLock, () => install(p));
}

async function install(p) {
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
function nodeEnv(p, inst) {
  return {
    ...process.env,
    HOME: p.home,
    RABBITMQ_NODENAME: inst.node,
    RABBITMQ_NODE_IP_ADDRESS: HOST,
    RABBITMQ_NODE_PORT: String(inst.port),
    RABBITMQ_DIST_PORT: String(inst.distPort),
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

function writeConfig(p, inst) {
  ensureDir(p.home);
  ensureDir(join(p.dir, 'log'));
  writeFileSync(join(p.dir, 'rabbitmq-env.conf'), '# intentionally empty, see tools/brokers/rabbitmq.mjs\n');
  writeFileSync(join(p.dir, 'enabled_plugins'), '[].\n');
  writeFileSync(
    join(p.dir, 'rabbitmq.conf'),
    [
      `listeners.tcp.default = ${HOST}:${inst.port}`,
      'loopback_users.guest = true',
      // A nearly full CI disk must not block publishers mid-test.
      'disk_free_limit.absolute = 50MB',
      '',
    ].join('\n'),
  );
}

/**
 * Launch (or adopt an already launched) local RabbitMQ and wait until AMQP works.
 * @param {{timeoutMs?: number, instance?: Instance}} [o]
 * @returns {Promise<{address: string, started: boolean}>}
 */
export async function startLocal({ timeoutMs = 120_000, instance: inst = instance() } = {}) {
  const p = paths(inst);
  const { port, node, url } = inst;
  ensureDir(p.dir);
  return withLock(p.lock, async () => {
    let pid = runningPid(inst);
    const started = !pid;
    if (!pid) {
      if (await tcpOpen(HOST, port))
        throw new Error(`${HOST}:${port} is taken by something that is not a working RabbitMQ`);
      await ensureInstalled(p);
      writeConfig(p, inst);
      log('rabbitmq', `starting RabbitMQ node ${node} on ${HOST}:${port} (logs: ${p.log} ${p.serverLog})`);
      // Foreground mode, detached by us: the pid we record is the node's.
      const child = spawnDetached(bin('rabbitmq-server'), [], {
        logFile: p.log,
        cwd: p.dir,
        env: nodeEnv(p, inst),
      });
      pid = child.pid;
      writeFileSync(p.pid, `${pid}\n`);
    } else {
      log('rabbitmq', `local RabbitMQ ${node} already running (pid ${pid}); waiting for it to be ready`);
    }
    const t0 = Date.now();
    try {
      await waitFor('local RabbitMQ', () => amqpReady(url), {
        timeoutMs,
        maxDelayMs: 1000,
        abort: () => (isAlive(pid, MARKER) ? undefined : 'the rabbitmq-server process exited'),
      });
    } catch (e) {
      throw new Error(
        `${e.message}\nlogs: ${p.log} ${p.serverLog} ${p.installLog}\n--- tail of ${p.log} ---\n${tail(p.log)}`,
      );
    }
    log('rabbitmq', `ready at ${HOST}:${port} after ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    return { address: url, started };
  });
}

/**
 * Stop the node we launched (as `inst`), if any. Idempotent. `hard` kills it (SIGKILL) instead
 * of a clean `rabbitmqctl stop`.
 * @param {Instance} [inst]
 * @param {{hard?: boolean}} [o]
 */
export async function stopLocal(inst = instance(), { hard = false } = {}) {
  const p = paths(inst);
  const pid = runningPid(inst);
  if (pid) {
    log('rabbitmq', `stopping local RabbitMQ ${inst.node} (pid ${pid}${hard ? ', SIGKILL' : ''})`);
    // A clean stop through the node itself first; signals as the fallback.
    const ctl = bin('rabbitmqctl');
    if (ctl && !hard) {
      await run(ctl, ['-n', inst.node, 'stop'], {
        logFile: p.log,
        env: nodeEnv(p, inst),
        timeoutMs: 60_000,
      }).catch(() => {});
    }
    for (let i = 0; i < 40 && !hard && isAlive(pid, MARKER); i++) await sleep(250);
    if (hard) await kill(pid, MARKER);
    else if (isAlive(pid, MARKER)) await terminate(pid, 20_000);
  }
  rmSync(p.pid, { force: true });
  // The group leader can be gone a moment before its children close the listener.
  if (pid) await portClosed(inst.port);
  return Boolean(pid);
}
