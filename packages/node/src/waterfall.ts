import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { type ReadableSpanLike, isReadableSpanLike, normaliseReadableSpan } from './normalised-span.js';
import {
  type Paint,
  defaultColor,
  formatDuration,
  formatValue,
  length,
  padEnd,
  padStart,
  paint,
  truncate,
} from './waterfall-text.js';

type Nanos = string | number | bigint;

/** A span as the waterfall reads it; a `NormalisedSpan` from the OTLP receiver is one. */
export interface WaterfallSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: SpanKind;
  startTimeUnixNano: Nanos;
  endTimeUnixNano: Nanos;
  status?: { code: SpanStatusCode; message?: string };
  events?: readonly { name: string; timeUnixNano: Nanos; attributes?: Readonly<Record<string, unknown>> }[];
  attributes?: Readonly<Record<string, unknown>>;
  serviceName?: string;
}

export type WaterfallInput = ReadableSpanLike | WaterfallSpan;

export interface WaterfallOptions {
  /** Total line width; default `process.stdout.columns`, else 100; at least 30. */
  width?: number;
  /** ANSI colours; default on a TTY unless NO_COLOR, always with FORCE_COLOR. */
  color?: boolean;
}

interface Row {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: SpanKind | undefined;
  start: bigint;
  end: bigint;
  status: { code: SpanStatusCode; message?: string };
  events: { name: string; time: bigint; attributes: Readonly<Record<string, unknown>> }[];
  attributes: Readonly<Record<string, unknown>>;
  service: string;
}

interface Entry {
  row: Row;
  /** Tree drawing before the name: ancestors' verticals and this span's connector. */
  tree: string;
  /** Tree drawing before this span's detail lines (events, error, orphan note). */
  detail: string;
  orphan: boolean;
}

interface Layout {
  width: number;
  service: number;
  name: number;
  kind: number;
  duration: number;
  bar: number;
}

const MIN_WIDTH = 30;
const MAX_TREE = 300;
const DURATION_WIDTH = 9;
const KIND_WIDTH = 8;
const KIND_LABELS: Record<number, string> = {
  [SpanKind.INTERNAL]: 'internal',
  [SpanKind.SERVER]: 'server',
  [SpanKind.CLIENT]: 'client',
  [SpanKind.PRODUCER]: 'producer',
  [SpanKind.CONSUMER]: 'consumer',
};
const UNKNOWN_SERVICE = 'unknown';

function nanos(value: Nanos): bigint {
  try {
    return typeof value === 'bigint' ? value : BigInt(typeof value === 'number' ? Math.trunc(value) : value);
  } catch {
    return 0n;
  }
}

function latest(a: bigint, b: bigint): bigint {
  if (a < b) return b;
  return a;
}

function toRow(input: WaterfallInput): Row {
  const span = isReadableSpanLike(input) ? normaliseReadableSpan(input) : input;
  const start = nanos(span.startTimeUnixNano);
  const end = nanos(span.endTimeUnixNano);
  return {
    traceId: span.traceId,
    spanId: span.spanId,
    parentSpanId: span.parentSpanId || undefined,
    name: span.name,
    kind: span.kind,
    start,
    // An end before the start (clock skew, a bad decode) draws as an instant.
    end: latest(start, end),
    status: span.status ?? { code: SpanStatusCode.UNSET },
    events: (span.events ?? []).map((event) => ({
      name: event.name,
      time: nanos(event.timeUnixNano),
      attributes: event.attributes ?? {},
    })),
    attributes: span.attributes ?? {},
    service: span.serviceName || UNKNOWN_SERVICE,
  };
}

const byStart = (a: Row, b: Row): number =>
  a.start < b.start
    ? -1
    : a.start > b.start
      ? 1
      : a.name.localeCompare(b.name) || a.spanId.localeCompare(b.spanId);

/** Depth-first order, children by start time; spans whose parent is absent (or a cycle) on top. */
function arrange(rows: Row[]): Entry[] {
  const byId = new Map<string, Row>();
  for (const row of rows) if (!byId.has(row.spanId)) byId.set(row.spanId, row);
  const children = new Map<string, Row[]>();
  const tops: Row[] = [];
  for (const row of byId.values()) {
    const parent = row.parentSpanId;
    if (parent && parent !== row.spanId && byId.has(parent)) {
      const siblings = children.get(parent);
      if (siblings) siblings.push(row);
      else children.set(parent, [row]);
    } else {
      tops.push(row);
    }
  }
  const entries: Entry[] = [];
  const visited = new Set<string>();
  // Depth-first with an explicit stack: a very deep trace must not overflow the call stack.
  const visit = (top: Row, orphan: boolean): void => {
    const stack = [{ row: top, tree: '', childTree: '', orphan }];
    for (let item = stack.pop(); item; item = stack.pop()) {
      const { row, tree, childTree } = item;
      if (visited.has(row.spanId)) continue;
      visited.add(row.spanId);
      const kids = (children.get(row.spanId) ?? []).filter((kid) => !visited.has(kid.spanId)).sort(byStart);
      entries.push({ row, tree, detail: childTree + (kids.length > 0 ? '│ ' : '  '), orphan: item.orphan });
      // Past MAX_TREE columns nothing of the tree can show; stop indenting so memory stays linear.
      const deeper = childTree.length < MAX_TREE;
      for (let index = kids.length - 1; index >= 0; index--) {
        const last = index === kids.length - 1;
        stack.push({
          row: kids[index]!,
          tree: childTree + (last ? '└─ ' : '├─ '),
          childTree: deeper ? childTree + (last ? '   ' : '│  ') : childTree,
          orphan: false,
        });
      }
    }
  };
  for (const top of tops.sort(byStart)) visit(top, top.parentSpanId !== undefined);
  // Spans in a parent cycle are reachable from no top; show them rather than lose them.
  for (const row of [...byId.values()].sort(byStart)) {
    if (!visited.has(row.spanId)) visit(row, true);
  }
  return entries;
}

function layout(width: number, entries: Entry[]): Layout {
  const widest = (values: number[], floor: number): number =>
    values.reduce((max, value) => Math.max(max, value), floor);
  let kind = KIND_WIDTH;
  let service = Math.min(
    widest(
      entries.map((entry) => length(entry.row.service)),
      7,
    ),
    16,
  );
  const others = (): number => kind + DURATION_WIDTH + (kind > 0 ? 4 : 3);
  // Narrow terminals: drop the kind column, then shorten service names (down to 4 columns) so
  // that names and bars keep at least 20 columns between them.
  if (width - service - others() < 28) kind = 0;
  service = Math.max(4, Math.min(service, width - others() - 20));
  const rest = width - service - others();
  // Names get what they need, up to half of what is left; the bars get the rest.
  const wanted = widest(
    entries.map((entry) => length(nameCell(entry))),
    4,
  );
  const name = Math.max(6, Math.min(wanted, Math.floor(rest / 2)));
  return { width, service, name, kind, duration: DURATION_WIDTH, bar: Math.max(1, rest - name) };
}

function nameCell(entry: Entry): string {
  return `${entry.tree}${entry.orphan ? '? ' : ''}${isError(entry.row) ? '✗ ' : ''}${entry.row.name}`;
}

function isError(row: Row): boolean {
  return row.status.code === SpanStatusCode.ERROR;
}

function bar(row: Row, t0: bigint, total: bigint, width: number): [number, number] {
  if (total <= 0n) return [0, 1];
  // Both ends rounded the same way, so a span that starts when another ends follows it without
  // sharing a cell, while spans that really overlap in time share cells.
  const column = (time: bigint): number => Number(((time - t0) * BigInt(width * 2) + total) / (total * 2n));
  const start = Math.min(column(row.start), width - 1);
  return [start, Math.min(width, Math.max(column(row.end), start + 1))];
}

function axis(total: bigint, width: number): string {
  const cells = Array.from({ length: width }, () => ' ');
  const place = (label: string, at: number): void => {
    Array.from(label).forEach((char, index) => {
      if (at + index >= 0 && at + index < width) cells[at + index] = char;
    });
  };
  const end = formatDuration(total);
  place('0', 0);
  if (width >= length(end) + 3) place(end, width - length(end));
  const middle = formatDuration(total / 2n);
  if (width >= 2 * length(end) + length(middle) + 6) place(middle, Math.floor((width - length(middle)) / 2));
  return cells.join('');
}

function errorLine(row: Row): string {
  const exception = row.events.find((event) => event.name === 'exception')?.attributes ?? {};
  const type = exception['exception.type'] ?? row.attributes['error.type'];
  const exceptionMessage = exception['exception.message'];
  const message = row.status.message;
  let text = '✗ ERROR';
  if (type !== undefined) text += ` ${formatPlain(type)}`;
  const primary = exceptionMessage !== undefined ? formatPlain(exceptionMessage) : message;
  if (primary) text += `: ${primary}`;
  if (message && exceptionMessage !== undefined && message !== exceptionMessage)
    text += ` (status: ${message})`;
  return text;
}

function formatPlain(value: unknown): string {
  return typeof value === 'string' ? value : formatValue(value);
}

function eventLine(event: Row['events'][number], t0: bigint): string {
  const at = `+${formatDuration(event.time - t0)}`;
  if (event.name === 'exception') {
    const type = event.attributes['exception.type'];
    const message = event.attributes['exception.message'];
    const summary = [type, message]
      .filter((part) => part !== undefined)
      .map(formatPlain)
      .join(': ');
    return `· ${at} exception${summary ? ` ${summary}` : ''}`;
  }
  const attributes = Object.entries(event.attributes)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${formatValue(value)}`)
    .join(' ');
  return `· ${at} ${event.name}${attributes ? ` ${attributes}` : ''}`;
}

function renderTrace(rows: Row[], entries: Entry[], size: Layout, colours: Paint): string[] {
  let t0 = rows[0]!.start;
  let tEnd = rows[0]!.end;
  for (const row of rows) {
    if (row.start < t0) t0 = row.start;
    tEnd = latest(tEnd, row.end);
  }
  const total = tEnd - t0;
  const services = [...new Set(entries.map((entry) => entry.row.service))];
  const serviceIndex = new Map(services.map((service, index) => [service, index]));
  const count = entries.length;
  const cell = (text: string, width: number): string => (width > 0 ? `${padEnd(text, width)} ` : '');
  const lines: string[] = [];
  const heading = `Trace ${rows[0]!.traceId} · ${formatDuration(total)} · ${count} span${count === 1 ? '' : 's'} · ${services.join(', ')}`;
  lines.push(colours.bold(truncate(heading, size.width)));
  lines.push(
    colours.dim(
      cell('service', size.service) +
        cell('span', size.name) +
        cell('kind', size.kind) +
        padStart('duration', size.duration) +
        ' ' +
        axis(total, size.bar),
    ),
  );
  const indent = ' '.repeat(size.service + 1);
  const detail = (entry: Entry, text: string, style: (text: string) => string): void => {
    const room = size.width - indent.length - length(entry.detail);
    const tree = truncate(entry.detail, size.width - indent.length);
    lines.push(indent + colours.dim(tree) + style(truncate(text, Math.max(0, room))));
  };
  for (const entry of entries) {
    const { row } = entry;
    const colour = serviceIndex.get(row.service) ?? 0;
    const error = isError(row);
    const label = padEnd(nameCell(entry), size.name);
    const treeLength = Math.min(length(entry.tree), length(label));
    const labelChars = Array.from(label);
    const name = labelChars.slice(treeLength).join('');
    const [from, to] = bar(row, t0, total, size.bar);
    const bars = '█'.repeat(to - from);
    lines.push(
      colours.service(padEnd(row.service, size.service), colour) +
        ' ' +
        colours.dim(labelChars.slice(0, treeLength).join('')) +
        (error ? colours.red(name) : name) +
        ' ' +
        (size.kind > 0
          ? colours.dim(cell(KIND_LABELS[row.kind ?? SpanKind.INTERNAL] ?? '', size.kind))
          : '') +
        padStart(formatDuration(row.end - row.start), size.duration) +
        ' ' +
        ' '.repeat(from) +
        (error ? colours.red(bars) : colours.service(bars, colour)),
    );
    if (entry.orphan && row.parentSpanId) {
      detail(entry, `? parent ${row.parentSpanId} is not in this trace`, colours.dim);
    }
    if (error) detail(entry, errorLine(row), colours.red);
    for (const event of [...row.events].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0))) {
      detail(entry, eventLine(event, t0), event.name === 'exception' ? colours.red : colours.dim);
    }
  }
  return lines.map((line) => line.trimEnd());
}

/**
 * Draws the spans of a trace as a timeline, like Jaeger's trace view: one row per span with its
 * service, name (indented under its parent), kind, duration and a bar on a shared time axis.
 * Spans of several traces are drawn one trace after the other.
 */
export function renderWaterfall(spans: readonly WaterfallInput[], options: WaterfallOptions = {}): string {
  const { width = process.stdout.columns || 100, color = defaultColor() } = options;
  const traces = new Map<string, Row[]>();
  for (const span of spans) {
    const row = toRow(span);
    const rows = traces.get(row.traceId);
    if (rows) rows.push(row);
    else traces.set(row.traceId, [row]);
  }
  const total = Math.max(MIN_WIDTH, Math.floor(Number.isFinite(width) ? width : 100));
  const colours = paint(color);
  const blocks = [...traces.values()].map((rows) => {
    const entries = arrange(rows);
    return renderTrace(rows, entries, layout(total, entries), colours).join('\n');
  });
  return blocks.join('\n\n');
}
