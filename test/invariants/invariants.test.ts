// Proves the invariants of test/support/invariants.ts fire: runs a fixture whose tests each break
// one of them in a child vitest, and reads which tests failed, and why, from its JSON report.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

interface AssertionResult {
  title: string;
  status: string;
  failureMessages: string[];
}

const root = fileURLToPath(new URL('../..', import.meta.url));
let results: Map<string, AssertionResult>;

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'tracewire-invariants-'));
  const report = join(dir, 'report.json');
  spawnSync(
    process.execPath,
    [
      'node_modules/vitest/vitest.mjs',
      'run',
      '--config',
      'test/invariants/fixtures/vitest.config.ts',
      '--reporter=json',
      `--outputFile=${report}`,
    ],
    { cwd: root, encoding: 'utf8', env: { ...process.env, TRACEWIRE_ACCOUNTING_DIR: '' } },
  );
  const json = JSON.parse(readFileSync(report, 'utf8')) as {
    testResults: { assertionResults: AssertionResult[] }[];
  };
  rmSync(dir, { recursive: true, force: true });
  results = new Map(json.testResults.flatMap((file) => file.assertionResults).map((r) => [r.title, r]));
}, 60_000);

function failure(title: string): string {
  const result = results.get(title);
  expect(result, title).toBeDefined();
  expect(result?.status, title).toBe('failed');
  return result?.failureMessages.join('\n') ?? '';
}

describe('the invariants guard', () => {
  it('fails a test that leaves a span open, naming the span', () => {
    expect(failure('leaves a span open')).toMatch(
      /1 span\(s\) started in this test never ended: "left-open"/,
    );
  });

  it('fails a test that ends a span twice', () => {
    expect(failure('ends a span twice')).toMatch(/span\(s\) ended twice: "ended-twice"/);
  });

  it('fails a test whose unhandled rejection arrives after its body', () => {
    expect(failure('lets a rejection go unhandled')).toMatch(
      /unhandledRejection in this test: Error: nobody handles this/,
    );
  });

  it('fails a test whose timer throws', () => {
    expect(failure('throws from a timer')).toMatch(
      /uncaughtException in this test: Error: thrown from a timer/,
    );
  });

  it("fails a test on a warning raised from tracewire's source", () => {
    expect(failure('emits a warning from tracewire source')).toMatch(
      /warning in this test: TracewireTestWarning/,
    );
  });

  it('lets a late but bounded end, a foreign warning and a clean test pass', () => {
    for (const title of [
      'ends its span a little after the test body',
      'emits a warning from elsewhere',
      'keeps every invariant',
    ]) {
      expect(results.get(title)?.status, title).toBe('passed');
    }
  });
});
