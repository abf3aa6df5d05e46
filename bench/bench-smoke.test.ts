import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs module of the benchmark, without type declarations
import { rowsTable } from './suite/report.mjs';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

interface VariantResult {
  cpuUs: number;
  addedUs: number;
  spansPerOp: number;
}

// The quick mode of one transport, end to end through the real harness (one process per variant).
// Only the shape of the result is checked: never a time.
describe('npm run bench, quick mode', () => {
  it('reports bare, floor, tracewire and otel with finite numbers for Fastify', async () => {
    for (const name of ['core', 'http', 'fastify'])
      expect(
        existsSync(join(root, 'packages', name, 'dist')),
        `packages/${name} is built (npm run build)`,
      ).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
    const out = join(dir, 'result.json');
    try {
      await run(
        process.execPath,
        ['bench/suite/orchestrate.mjs', '--quick', '--rows', 'fastify', '--no-export', '--out', out],
        {
          cwd: root,
          env: { ...process.env, BENCH_ROUNDS: '2' },
        },
      );
      const result = JSON.parse(readFileSync(out, 'utf8'));
      const [row] = result.rows;
      const variants = row.variants as Record<string, VariantResult>;
      expect(Object.keys(variants)).toEqual(['bare', 'floor', 'tracewire', 'otel']);
      for (const [name, entry] of Object.entries(variants)) {
        expect(Number.isFinite(entry.cpuUs), `${name} cpuUs`).toBe(true);
        expect(Number.isFinite(entry.addedUs), `${name} addedUs`).toBe(true);
      }
      expect(variants.bare?.spansPerOp).toBe(0);
      expect(variants.floor?.spansPerOp).toBe(variants.tracewire?.spansPerOp);
      expect(variants.otel?.spansPerOp).toBeGreaterThanOrEqual(1);
      expect(row.shapeDiff).toEqual([]);
      const line = (rowsTable(result) as string).split('\n').find((text) => text.startsWith('| Fastify |'));
      const cells = line?.split('|').map((cell) => cell.trim()) ?? [];
      // | Fastify | request | bare | floor | tracewire | otel | ...
      for (const cell of cells.slice(3, 7))
        expect(Number.isFinite(Number.parseFloat(cell)), `cell "${cell}"`).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
