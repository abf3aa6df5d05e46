// Text helpers for the waterfall: widths count code points (the box and block characters used
// are one column each), colour is applied after layout so escapes never affect alignment.

export interface Paint {
  dim(text: string): string;
  bold(text: string): string;
  red(text: string): string;
  service(text: string, index: number): string;
}

const SERVICE_COLOURS = [36, 35, 34, 32, 33, 96, 95, 94, 92, 93];

const sgr =
  (open: number, close: number) =>
  (text: string): string =>
    text === '' ? text : `\u001b[${open}m${text}\u001b[${close}m`;

const COLOUR: Paint = {
  dim: sgr(2, 22),
  bold: sgr(1, 22),
  red: sgr(31, 39),
  service: (text, index) => sgr(SERVICE_COLOURS[index % SERVICE_COLOURS.length]!, 39)(text),
};

const identity = (text: string): string => text;
const PLAIN: Paint = { dim: identity, bold: identity, red: identity, service: identity };

export function paint(color: boolean): Paint {
  return color ? COLOUR : PLAIN;
}

/**
 * Colour by default only on a terminal: FORCE_COLOR (unless 0/false) turns it on, as in Node
 * itself, else a non-empty NO_COLOR turns it off, else it follows `isTTY`.
 */
export function defaultColor(
  env: NodeJS.ProcessEnv = process.env,
  isTTY: boolean = process.stdout.isTTY === true,
): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false';
  if (env.NO_COLOR) return false;
  return isTTY;
}

export function length(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

// C0 and C1 control characters: span data comes from other processes, and a newline or an escape
// sequence in a name must neither break the layout nor drive the terminal.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * Cuts `text` to `width` columns, ending with an ellipsis when something was cut. Every cell goes
 * through here, so control characters are replaced here too (one column for one).
 */
export function truncate(raw: string, width: number): string {
  if (width <= 0) return '';
  const text = raw.replace(CONTROL, '\ufffd');
  if (length(text) <= width) return text;
  return Array.from(text)
    .slice(0, width - 1)
    .join('')
    .concat('…');
}

export function padEnd(text: string, width: number): string {
  const cut = truncate(text, width);
  return cut + ' '.repeat(Math.max(0, width - length(cut)));
}

export function padStart(text: string, width: number): string {
  const cut = truncate(text, width);
  return ' '.repeat(Math.max(0, width - length(cut))) + cut;
}

/** `420 µs`, `12.3 ms`, `1.25 s`. */
export function formatDuration(nanos: bigint): string {
  const ns = nanos < 0n ? 0n : nanos;
  if (ns < 1_000_000n) return `${ns / 1_000n} µs`;
  if (ns < 1_000_000_000n) return `${(Number(ns) / 1e6).toFixed(1)} ms`;
  return `${(Number(ns) / 1e9).toFixed(2)} s`;
}

/** An attribute value for one line: bare when it is a simple word, else JSON. */
export function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (value instanceof Uint8Array) return `<${value.length} bytes>`;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'object' && value !== null) {
    try {
      return JSON.stringify(value);
    } catch {
      return String(value);
    }
  }
  return String(value);
}
