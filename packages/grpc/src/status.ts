// gRPC status codes are fixed by the protocol, so their names live here rather than being read
// from grpc-js at run time.
const STATUS_NAMES: readonly string[] = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];

export const STATUS_OK = 0;
export const STATUS_CANCELLED = 1;
export const STATUS_DEADLINE_EXCEEDED = 4;

/** The code's name (`NOT_FOUND`), or the number as text for a code outside the protocol. */
export function statusName(code: number): string {
  return STATUS_NAMES[code] ?? String(code);
}

/** UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS. */
const SERVER_ERRORS: ReadonlySet<number> = new Set([2, 4, 12, 13, 14, 15]);

/** Whether a status the server sends marks its span ERROR: only codes that mean the server failed. */
export function isServerError(code: number): boolean {
  return SERVER_ERRORS.has(code);
}
