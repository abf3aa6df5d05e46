// Vitest global setup of every project: prints, at the end of the run, how many tests ran under
// the span accounting and process guards of invariants.ts.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface FileCount {
  file: string;
  tests: number;
  testsWithSpans: number;
}

export default function setup(): (() => void) | undefined {
  // Every project's global setup runs in this one process: the first makes the directory that all
  // workers write to, and its teardown (at the end of the run) prints the totals once.
  if (process.env.TRACEWIRE_ACCOUNTING_DIR) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'tracewire-accounting-'));
  process.env.TRACEWIRE_ACCOUNTING_DIR = dir;
  return () => {
    delete process.env.TRACEWIRE_ACCOUNTING_DIR;
    const counts: FileCount[] = readdirSync(dir).flatMap((name) =>
      readFileSync(join(dir, name), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as FileCount),
    );
    rmSync(dir, { recursive: true, force: true });
    const tests = counts.reduce((sum, count) => sum + count.tests, 0);
    const withSpans = counts.reduce((sum, count) => sum + count.testsWithSpans, 0);
    console.log(
      `\n[invariants] ${tests} tests in ${counts.length} files ran under span accounting and process guards; ${withSpans} of them started spans`,
    );
  };
}
