/**
 * The span name and `rpc.method` of a gRPC path: `/package.Service/Method` becomes
 * `package.Service/Method`.
 */
export function methodName(path: string): string {
  return typeof path === 'string' && path.charCodeAt(0) === 0x2f ? path.slice(1) : String(path);
}
