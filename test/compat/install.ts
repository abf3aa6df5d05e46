// The app a new user would make: every package under packages/ packed with `npm pack`, the
// tarballs installed into a fresh directory under the OS temp dir (no workspace links), peers and
// frameworks from the registry. The prepared app is keyed by a hash of the tarballs, the app's
// files and its dependency list, so the Node 20, 22 and 24 passes of one `npm test` share it.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageDirs, repoRoot } from '../support/packages.js';
import { type Setup, nodeRuns2x, setups } from './setups.js';

const run = promisify(execFile);
const appSource = join(repoRoot, 'test', 'compat', 'app');
const rootManifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));

/**
 * Registry dependencies of the app: the repo's own versions where it has them, bundlers pinned.
 * @platformatic/kafka (the peer) is the major the running Node supports, so the app key differs
 * between Node 20 and 22/24; 2.x is also installed under an alias for Bun and Deno.
 */
function registryDependencies(): Record<string, string> {
  const platformatic2 = rootManifest.devDependencies['@platformatic/kafka'] as string;
  const platformatic1 = (rootManifest.devDependencies['platformatic-kafka1'] as string).replace(
    /^npm:@platformatic\/kafka@/,
    '',
  );
  const fromRepo = [
    '@opentelemetry/api',
    '@opentelemetry/context-async-hooks',
    '@opentelemetry/instrumentation',
    '@opentelemetry/instrumentation-express',
    '@opentelemetry/instrumentation-http',
    '@opentelemetry/sdk-trace-base',
    '@opentelemetry/sdk-trace-node',
    '@grpc/grpc-js',
    '@grpc/proto-loader',
    'amqplib',
    'express',
    'fastify',
    'kafkajs',
  ];
  return {
    ...Object.fromEntries(fromRepo.map((name) => [name, rootManifest.devDependencies[name] as string])),
    esbuild: '0.28.2',
    webpack: '5.113.0',
    rollup: '4.68.8',
    '@rollup/plugin-commonjs': '29.0.3',
    '@rollup/plugin-json': '6.1.0',
    '@rollup/plugin-node-resolve': '16.0.3',
    '@platformatic/kafka': nodeRuns2x() ? platformatic2 : platformatic1,
    'platformatic-kafka2': `npm:@platformatic/kafka@${platformatic2}`,
  };
}

export interface App {
  dir: string;
  /** npm install's output (stdout and stderr). */
  installLog: string;
  /** The @tracewire package names installed from tarballs. */
  packages: string[];
}

/** The entry files every setup runs (without extension). */
export const entries = ['tracewire', 'platformatic', 'otel-after', 'otel-first', 'plain'] as const;
export type Entry = (typeof entries)[number];

/** The file a setup runs for an entry, relative to the app. */
export function entryFile(setup: Setup, entry: Entry): string {
  const extension = setup.format === 'esm' ? '.mjs' : '.cjs';
  return setup.bundler ? `bundles/${setup.id}/${entry}${extension}` : `${entry}${extension}`;
}

export async function prepareApp(): Promise<App> {
  const packs = join(tmpdir(), `tracewire-compat-packs-${process.pid}`);
  rmSync(packs, { recursive: true, force: true });
  mkdirSync(packs, { recursive: true });
  const tarballs: { name: string; file: string; shasum: string }[] = [];
  for (const dir of packageDirs()) {
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', packs], { cwd: dir });
    const [packed] = JSON.parse(stdout) as { name: string; filename: string; shasum: string }[];
    if (!packed) throw new Error(`npm pack gave nothing in ${dir}`);
    tarballs.push({ name: packed.name, file: join(packs, packed.filename), shasum: packed.shasum });
  }

  const dependencies: Record<string, string> = registryDependencies();
  for (const tarball of tarballs) dependencies[tarball.name] = `file:${tarball.file}`;
  const manifest = {
    name: 'tracewire-compat-app',
    private: true,
    dependencies,
    // The tarballs name each other by version, which is not on the registry: point them here too.
    overrides: Object.fromEntries(tarballs.map((tarball) => [tarball.name, `$${tarball.name}`])),
  };
  const hash = createHash('sha256');
  hash.update(JSON.stringify(registryDependencies()));
  for (const tarball of tarballs) hash.update(tarball.shasum);
  for (const file of readdirSync(appSource).sort())
    hash.update(file).update(readFileSync(join(appSource, file)));
  hash.update(JSON.stringify(setups));
  const dir = join(tmpdir(), `tracewire-compat-app-${hash.digest('hex').slice(0, 16)}`);
  const packages = tarballs.map((tarball) => tarball.name);
  const ready = join(dir, '.ready');
  if (existsSync(ready)) {
    rmSync(packs, { recursive: true, force: true });
    return { dir, installLog: readFileSync(join(dir, 'install.log'), 'utf8'), packages };
  }

  removeStaleApps();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(appSource, dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  for (const name of ['app', 'otel-setup', ...entries]) {
    writeFileSync(join(dir, `${name}.cjs`), toCommonJs(readFileSync(join(appSource, `${name}.mjs`), 'utf8')));
  }
  const { stdout, stderr } = await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel', 'warn', '--foreground-scripts'],
    { cwd: dir, env: { ...process.env, npm_config_workspaces: 'false' }, maxBuffer: 64 * 1024 * 1024 },
  );
  const installLog = `${stdout}\n${stderr}`;
  writeFileSync(join(dir, 'install.log'), installLog);
  rmSync(packs, { recursive: true, force: true });

  // Two bundler processes at a time: the machine has two cores.
  const jobs = setups.flatMap((setup) =>
    setup.bundler
      ? entries.map((entry) => [setup.bundler!, setup.format, `${entry}.mjs`, entryFile(setup, entry)])
      : [],
  );
  const worker = async (): Promise<void> => {
    for (let job = jobs.shift(); job; job = jobs.shift()) {
      await run(process.execPath, ['bundle.mjs', ...job], { cwd: dir, maxBuffer: 64 * 1024 * 1024 });
    }
  };
  await Promise.all([worker(), worker()]);
  writeFileSync(ready, '');
  return { dir, installLog, packages };
}

/** Apps of earlier code versions, left a day ago or more (a newer one may be another checkout's). */
function removeStaleApps(): void {
  const dayAgo = Date.now() - 24 * 60 * 60 * 1000;
  for (const name of readdirSync(tmpdir())) {
    const path = join(tmpdir(), name);
    if (name.startsWith('tracewire-compat-app-') && statSync(path).mtimeMs < dayAgo) {
      rmSync(path, { recursive: true, force: true });
    }
  }
}

/**
 * The app's ESM files as CommonJS, for the CJS setups: the same code, `import` turned into
 * `require` in the same order. Only the import shapes the app's files use are handled.
 */
export function toCommonJs(source: string): string {
  const interop = 'const __default = (m) => (m && m.__esModule && "default" in m ? m.default : m);\n';
  const body = source
    .replace(/^import \* as (\w+) from '([^']+)';$/gm, "const $1 = require('$2');")
    .replace(/^import (\w+) from '([^']+)';$/gm, "const $1 = __default(require('$2'));")
    .replace(
      /^import \{([^}]+)\} from '([^']+)';$/gm,
      (_, names: string, from: string) => `const {${names.replace(/ as /g, ': ')}} = require('${from}');`,
    )
    .replace(/^import '([^']+)';$/gm, "require('$1');")
    .replace(/^export (async function|function) /gm, 'exports.__EXPORT__ = $1 ')
    .replace(/require\('(\.\/[^']+)\.mjs'\)/g, "require('$1.cjs')");
  // `export function f` becomes `exports.f = function f`, keeping the name for the module's own calls.
  const exported = body.replace(
    /^exports\.__EXPORT__ = (async function|function) (\w+)/gm,
    (_, keyword: string, name: string) => `exports.${name} = ${name};\n${keyword} ${name}`,
  );
  return `'use strict';\n${interop}${exported}`;
}
