// The services import the built @tracewire/* packages (workspace links to packages/*/dist), so
// the demo builds them first; turbo's cache makes this quick when nothing changed.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runs `npx turbo run build` at the repository root; throws with turbo's output when it fails. */
export function buildPackages() {
  const result = spawnSync('npx', ['turbo', 'run', 'build', '--output-logs=errors-only'], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) {
    // Turbo prints only the failing tasks' logs; the compiler's own message comes first.
    const lines = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n');
    const output = lines.length > 50 ? [...lines.slice(0, 50), `… (${lines.length - 50} more lines)`] : lines;
    const why = result.error?.message ?? `exit ${result.status ?? result.signal}`;
    throw new Error(`building the packages failed (npx turbo run build: ${why})\n${output.join('\n')}`);
  }
}
