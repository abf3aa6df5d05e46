// Types for tests that start the service in-process.
export declare const FRAMEWORKS: readonly ['express', 'fastify'];

export interface RunningService {
  /** The `POST /test` endpoint. */
  url: string;
  close(): Promise<void>;
}

export declare function startService(options?: {
  framework?: 'express' | 'fastify';
  /** 0 picks a free port. Default 5000. */
  port?: number;
  host?: string;
}): Promise<RunningService>;
