// Child processes for the fault suites: tracewire services run from the built packages (the
// same `turbo run build` the cross-language suites use), killed or stopped by the test.
import { fileURLToPath } from 'node:url';
import { type Service, buildPackages, startNodeService } from '../../cross-language/support.js';

export type { Service };
export { buildPackages };

/** Starts `test/faults/fixtures/<name>` and resolves once it printed `listening <port>`. */
export async function startFixture(
  name: string,
  env: NodeJS.ProcessEnv = {},
): Promise<{ service: Service; port: number }> {
  const script = fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
  const service = startNodeService(script, { ...process.env, ...env });
  const match = await service.waitForLine(/^listening (\d+)/, 30_000);
  return { service, port: Number(match[1]) };
}
