// Step 4 for Kafka: run Apache Kafka from its Maven Central jars, single node
// in KRaft combined mode (broker + controller in one JVM). No tarball download
// is needed: Maven Central is reachable wherever the build is, and `mvn
// dependency:copy-dependencies` gives us the exact runtime classpath.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kafkaReady } from './probe.mjs';
import {
  cacheRoot,
  ensureDir,
  isAlive,
  kill,
  log,
  portClosed,
  readPid,
  run,
  spawnDetached,
  tail,
  tcpOpen,
  terminate,
  waitFor,
  which,
  withLock,
} from './util.mjs';

// Newest 4.x on Maven Central whose server runs on Java 17 (Kafka 4.x needs 17+).
export const KAFKA_VERSION = process.env.TRACEWIRE_KAFKA_VERSION || '4.4.0';
// log4j-core comes in through kafka-server; this binds Kafka's slf4j 1.7 API to it.
const LOG4J_VERSION = '2.25.5';
export const HOST = '127.0.0.1';
export const PORT = 9092;
const CONTROLLER_PORT = Number(process.env.TRACEWIRE_KAFKA_CONTROLLER_PORT || 9093);
const MARKER = 'kafka.Kafka'; // in the java command line: tells our pid from a recycled one

/**
 * Which broker: the default one (9092, the shared cache dir) or a named extra instance with its
 * own ports and data dir (fault tests restart theirs without touching the shared one).
 * @typedef {{name: string, port: number, controllerPort: number}} Instance
 * @param {{name?: string, port?: number, controllerPort?: number}} [o]
 * @returns {Instance}
 */
export function instance(o = {}) {
  const name = o.name ?? 'default';
  if (name === 'default') return { name, port: PORT, controllerPort: CONTROLLER_PORT };
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`kafka instance name must be [a-z0-9-]+, got ${name}`);
  if (!o.port) throw new Error(`kafka instance ${name} needs a port`);
  return { name, port: o.port, controllerPort: o.controllerPort ?? o.port + 1 };
}

/** @param {Instance} [inst] */
export function paths(inst = instance()) {
  const root = join(cacheRoot(), `kafka-${KAFKA_VERSION}`);
  // The default instance keeps the original layout; extra ones live under instances/ and share the jars.
  const dir = inst.name === 'default' ? root : join(root, 'instances', inst.name);
  return {
    root,
    dir,
    jars: join(root, 'jars'),
    jarsLock: join(root, '.jars-lock'),
    data: join(dir, 'data'),
    props: join(dir, 'server.properties'),
    log4j: join(dir, 'log4j2.properties'),
    pid: join(dir, 'kafka.pid'),
    lock: join(dir, '.lock'),
    log: join(dir, 'kafka.log'), // the broker's own output
    setupLog: join(root, 'setup.log'), // mvn + storage format
  };
}

/** Pid of a Kafka we launched (as `inst`) that is still running, else undefined. */
export function runningPid(inst = instance()) {
  const p = paths(inst);
  // An extra instance's command line names its own properties file.
  const pid = readPid(p.pid);
  return isAlive(pid, inst.name === 'default' ? MARKER : p.props) ? pid : undefined;
}

/** Fetch the jars once; later runs find them in the cache. */
async function ensureJars(p) {
  const done = join(p.jars, '.complete');
  if (existsSync(done)) return;
  if (p.dir !== p.root) {
    // An extra instance: fetch under the shared jars lock, the default instance may be doing it too.
    ensureDir(p.root);
    return withLock(p.jarsLock, () => ensureJars({ ...p, dir: p.root, root: p.root }));
  }
  if (!which('mvn'))
    throw new Error(
      `Maven (mvn) is needed to fetch the Kafka ${KAFKA_VERSION} jars; install it or set KAFKA_BROKERS`,
    );
  log('kafka', `fetching Kafka ${KAFKA_VERSION} jars from Maven Central (log: ${p.setupLog})`);
  const pom = `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.tracewire</groupId><artifactId>kafka-runtime</artifactId><version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>${LOG4J_VERSION}</version></dependency>
  </dependencies>
</project>
`;
  writeFileSync(join(p.dir, 'pom.xml'), pom);
  const tmp = `${p.jars}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  await run(
    'mvn',
    [
      '-q',
      '-B',
      '-f',
      join(p.dir, 'pom.xml'),
      'dependency:copy-dependencies',
      '-DincludeScope=runtime',
      `-DoutputDirectory=${tmp}`,
    ],
    { logFile: p.setupLog, cwd: p.dir, timeoutMs: 15 * 60_000 },
  );
  if (!readdirSync(tmp).some((f) => f.startsWith(`kafka_2.13-${KAFKA_VERSION}`))) {
    throw new Error(`Kafka jars missing after mvn; log: ${p.setupLog}`);
  }
  writeFileSync(join(tmp, '.complete'), '');
  rmSync(p.jars, { recursive: true, force: true });
  renameSync(tmp, p.jars); // atomic: a half-fetched classpath is never used
}

function writeConfig(p, inst) {
  const { port, controllerPort } = inst;
  writeFileSync(
    p.props,
    [
      '# Written by tools/brokers/kafka.mjs on every start; edit the launcher, not this file.',
      'process.roles=broker,controller',
      'node.id=1',
      `controller.quorum.bootstrap.servers=${HOST}:${controllerPort}`,
      `listeners=PLAINTEXT://${HOST}:${port},CONTROLLER://${HOST}:${controllerPort}`,
      `advertised.listeners=PLAINTEXT://${HOST}:${port}`,
      'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
      'controller.listener.names=CONTROLLER',
      'inter.broker.listener.name=PLAINTEXT',
      `log.dirs=${p.data}`,
      'num.partitions=1',
      // Single node: every internal topic must fit on one replica.
      'offsets.topic.replication.factor=1',
      'transaction.state.log.replication.factor=1',
      'transaction.state.log.min.isr=1',
      'share.coordinator.state.topic.replication.factor=1',
      'share.coordinator.state.topic.min.isr=1',
      'min.insync.replicas=1',
      // Tests join consumer groups constantly; do not wait 3s for more members.
      'group.initial.rebalance.delay.ms=0',
      'auto.create.topics.enable=true',
      '',
    ].join('\n'),
  );
  // Console output is redirected to kafka.log by the spawn; keep it at INFO
  // but silence the chattiest request logging.
  writeFileSync(
    p.log4j,
    [
      'rootLogger.level=INFO',
      'rootLogger.appenderRef.out.ref=out',
      'appender.out.type=Console',
      'appender.out.name=out',
      'appender.out.layout.type=PatternLayout',
      'appender.out.layout.pattern=[%d] %p %m (%c)%n',
      'logger.request.name=kafka.request.logger',
      'logger.request.level=WARN',
      'logger.state.name=state.change.logger',
      'logger.state.level=WARN',
      '',
    ].join('\n'),
  );
}

function javaArgs(p, mainClass, extra) {
  return [
    '-Xms128m',
    '-Xmx512m', // small: shares a 2-core box with the tests
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${p.log4j}`,
    '-cp',
    join(p.jars, '*'),
    mainClass,
    ...extra,
  ];
}

/** First start only: write meta.properties for a fresh single-voter quorum. */
async function ensureFormatted(p) {
  if (existsSync(join(p.data, 'meta.properties'))) return;
  rmSync(p.data, { recursive: true, force: true });
  // What `kafka-storage random-uuid` prints; like Kafka's own, never starting with '-', which the
  // storage tool would read as an option.
  let clusterId;
  do clusterId = randomBytes(16).toString('base64url');
  while (clusterId.startsWith('-'));
  log('kafka', `formatting storage in ${p.data} (cluster id ${clusterId})`);
  await run(
    'java',
    javaArgs(p, 'kafka.tools.StorageTool', ['format', '-t', clusterId, '-c', p.props, '--standalone']),
    { logFile: p.setupLog, cwd: p.dir, timeoutMs: 120_000 },
  );
}

/**
 * Launch (or adopt an already launched) local Kafka and wait until it works.
 * @param {{timeoutMs?: number, instance?: Instance}} [o]
 * @returns {Promise<{address: string, started: boolean}>}
 */
export async function startLocal({ timeoutMs = 180_000, instance: inst = instance() } = {}) {
  const p = paths(inst);
  const { port } = inst;
  ensureDir(p.dir);
  return withLock(p.lock, async () => {
    let pid = runningPid(inst);
    const started = !pid;
    if (!pid) {
      if (await tcpOpen(HOST, port))
        throw new Error(`${HOST}:${port} is taken by something that is not a working Kafka broker`);
      if (!which('java'))
        throw new Error('java (17+) is needed to run the local Kafka; install a JDK or set KAFKA_BROKERS');
      await ensureJars(p);
      writeConfig(p, inst);
      await ensureFormatted(p);
      log('kafka', `starting Kafka ${KAFKA_VERSION} (${inst.name}) on ${HOST}:${port} (log: ${p.log})`);
      const child = spawnDetached('java', javaArgs(p, MARKER, [p.props]), { logFile: p.log, cwd: p.dir });
      pid = child.pid;
      writeFileSync(p.pid, `${pid}\n`);
    } else {
      log('kafka', `local Kafka (${inst.name}) already running (pid ${pid}); waiting for it to be ready`);
    }
    const address = `${HOST}:${port}`;
    const t0 = Date.now();
    try {
      await waitFor('local Kafka', () => kafkaReady(address, { createTopic: true }), {
        timeoutMs,
        maxDelayMs: 1000,
        abort: () => (runningPid(inst) === pid ? undefined : 'the Kafka process exited'),
      });
    } catch (e) {
      throw new Error(`${e.message}\nlogs: ${p.log} ${p.setupLog}\n--- tail of ${p.log} ---\n${tail(p.log)}`);
    }
    log('kafka', `ready at ${address} after ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    return { address, started };
  });
}

/**
 * Stop the Kafka we launched (as `inst`), if any. Idempotent. `hard` kills it (SIGKILL) instead of
 * a controlled shutdown.
 * @param {Instance} [inst]
 * @param {{hard?: boolean}} [o]
 */
export async function stopLocal(inst = instance(), { hard = false } = {}) {
  const p = paths(inst);
  const pid = runningPid(inst);
  if (pid) {
    log('kafka', `stopping local Kafka (${inst.name}, pid ${pid}${hard ? ', SIGKILL' : ''})`);
    if (hard) await kill(pid, inst.name === 'default' ? MARKER : p.props);
    else await terminate(pid, 60_000); // SIGTERM = controlled shutdown, flushes logs
  }
  rmSync(p.pid, { force: true });
  // The group leader can be gone a moment before its children close the listener.
  if (pid) await portClosed(inst.port);
  return Boolean(pid);
}
