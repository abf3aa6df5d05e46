// Vitest setup file of every project: the invariants every test is held to.
// - Span accounting: a test fails when a span it started is still open after it and its own
//   teardown (after a short, bounded grace for ends that arrive asynchronously), or when a span
//   was ended twice. Spans started in file-level hooks are checked when the file ends.
// - Process guards: an unhandled rejection, an uncaught exception, or a process warning raised
//   from tracewire's own source during a test fails that test.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach } from 'vitest';
import { describeSpans, forget, ledger, openSpans } from './span-accounting.js';

const GRACE_MS = 2_000;
const POLL_MS = 5;

interface ProcessEvent {
  kind: 'unhandledRejection' | 'uncaughtException' | 'warning';
  detail: string;
}

// One set of listeners and one event list per process: the setup file is evaluated again for
// every test file, and listeners added per file would pile up.
const GUARDS = Symbol.for('tracewire.test.process-guards');
const holder = globalThis as { [GUARDS]?: ProcessEvent[] };
const events: ProcessEvent[] = holder[GUARDS] ?? installGuards();
let tests = 0;
let testsWithSpans = 0;

// Warnings count when tracewire's own source raised them (a stack frame under packages/*/src);
// warnings of Node or of dependencies are the libraries' business, not ours.
const OWN_SOURCE = /[\\/]packages[\\/][a-z0-9-]+[\\/](src|dist)[\\/]/;

function describeError(value: unknown): string {
  if (value instanceof Error) return value.stack ?? `${value.name}: ${value.message}`;
  try {
    return String(value);
  } catch {
    return 'an unprintable value';
  }
}

function installGuards(): ProcessEvent[] {
  const list: ProcessEvent[] = [];
  holder[GUARDS] = list;
  process.on('unhandledRejection', (reason) => {
    list.push({ kind: 'unhandledRejection', detail: describeError(reason) });
  });
  // The monitor observes without changing what Node (and vitest) do with the exception.
  process.on('uncaughtExceptionMonitor', (error) => {
    list.push({ kind: 'uncaughtException', detail: describeError(error) });
  });
  process.on('warning', (warning) => {
    if (OWN_SOURCE.test(warning.stack ?? '')) list.push({ kind: 'warning', detail: describeError(warning) });
  });
  return list;
}

async function settle(test: string | undefined): Promise<void> {
  const deadline = Date.now() + GRACE_MS;
  while (openSpans(test).length > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  // One more turn, so a rejection that becomes unhandled at the end of the test is seen here.
  await new Promise((resolve) => setImmediate(resolve));
}

function violations(open: ReturnType<typeof openSpans>, where: string): string[] {
  const book = ledger();
  const found: string[] = [];
  if (open.length > 0) {
    found.push(`${open.length} span(s) started ${where} never ended: ${describeSpans(open)}`);
    forget(open);
  }
  if (book.doubleEnded.length > 0) {
    found.push(`span(s) ended twice: ${describeSpans(book.doubleEnded)}`);
    book.doubleEnded.length = 0;
  }
  for (const event of events.splice(0)) found.push(`${event.kind} ${where}: ${event.detail}`);
  return found;
}

beforeEach((context) => {
  const book = ledger();
  book.currentTest = context.task.id;
  book.startedInTest = 0;
});

afterEach(async (context) => {
  const book = ledger();
  const id = context.task.id;
  tests += 1;
  if (book.startedInTest > 0) testsWithSpans += 1;
  await settle(id);
  book.currentTest = undefined;
  const found = violations(openSpans(id), 'in this test');
  if (found.length > 0) throw new Error(`tracewire invariants broken:\n- ${found.join('\n- ')}`);
});

afterAll(async (suite) => {
  await settle(undefined);
  const dir = process.env.TRACEWIRE_ACCOUNTING_DIR;
  if (dir) {
    const line = JSON.stringify({ file: suite.file?.filepath ?? suite.name, tests, testsWithSpans });
    appendFileSync(join(dir, `${process.pid}.jsonl`), `${line}\n`);
  }
  const found = violations(openSpans(), 'in this file (hooks or tests)');
  if (found.length > 0) throw new Error(`tracewire invariants broken:\n- ${found.join('\n- ')}`);
});
