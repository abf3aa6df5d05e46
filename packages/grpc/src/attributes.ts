// Attribute names as @opentelemetry/semantic-conventions exports them today (1.45): the RPC
// conventions are stable there, with `rpc.system.name`, a fully-qualified `rpc.method` and a
// string `rpc.status_code` replacing the deprecated `rpc.system`, `rpc.service` and
// `rpc.grpc.status_code`.
export const ATTR_RPC_SYSTEM_NAME = 'rpc.system.name';
export const ATTR_RPC_METHOD = 'rpc.method';
export const ATTR_RPC_STATUS_CODE = 'rpc.status_code';
export const ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_SERVER_PORT = 'server.port';
export const ATTR_NETWORK_PEER_ADDRESS = 'network.peer.address';
export const ATTR_NETWORK_PEER_PORT = 'network.peer.port';
export const RPC_SYSTEM_NAME_VALUE_GRPC = 'grpc';
