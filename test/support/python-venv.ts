// A Python virtualenv in the user's cache dir, made once per pinned requirement list: for tests
// that run services written with another language's OpenTelemetry SDK. Needs python3 and PyPI.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface PythonVenv {
  /** The venv's own interpreter. */
  python: string;
  dir: string;
  /** False when the cached venv already had these requirements. */
  created: boolean;
}

export interface PythonVenvOptions {
  /** Folder name under `${XDG_CACHE_HOME:-~/.cache}/tracewire/`. */
  name: string;
  /** A requirements file of pinned versions; its text is the cache key. */
  requirementsFile: string;
  /** The interpreter that makes the venv; default $PYTHON, else python3. */
  basePython?: string;
  /** For each of `python -m venv` and `pip install`; default 5 min. */
  timeoutMs?: number;
}

const MARKER = '.tracewire-requirements.txt';

export function cacheDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tracewire');
}

/** Runs a command; rejects with the tail of its output when it fails or outlives `timeoutMs`. */
function run(command: string, args: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1' },
      timeout: timeoutMs,
    });
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-8000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${output}`));
    });
  });
}

/**
 * Returns the venv, creating it (`python -m venv` + `pip install -r`) when it is missing or was
 * made for another requirement list. The marker holding the list is written last, so a venv left
 * half-made by an interrupted run is made again.
 */
export async function ensurePythonVenv(options: PythonVenvOptions): Promise<PythonVenv> {
  const {
    name,
    requirementsFile,
    basePython = process.env.PYTHON || 'python3',
    timeoutMs = 300_000,
  } = options;
  const dir = join(cacheDir(), name);
  const python = join(dir, process.platform === 'win32' ? 'Scripts/python.exe' : 'bin/python');
  const marker = join(dir, MARKER);
  const requirements = await readFile(requirementsFile, 'utf8');
  const cached = existsSync(marker) ? await readFile(marker, 'utf8') : undefined;
  if (cached === requirements && existsSync(python)) return { python, dir, created: false };

  await rm(dir, { recursive: true, force: true });
  await run(basePython, ['-m', 'venv', dir], timeoutMs);
  await run(python, ['-m', 'pip', 'install', '--no-input', '-r', requirementsFile], timeoutMs);
  await writeFile(marker, requirements);
  return { python, dir, created: true };
}
