import type { InitializeResult, JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import { advertisedCapabilities, clientInfoOf } from './capabilities.js';
import type { Peer } from './peer.js';
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from './protocol.js';

/**
 * A session's initialize, answered by the bridge from what a child said in its own handshake: the
 * session's version, capabilities and identity are recorded on the peer, and the answer returned.
 * The router answers from its child; a child pool answers before the session's child is chosen.
 */
export function acceptInitialize(peer: Peer, request: JSONRPCRequest, child: InitializeResult): InitializeResult {
  const params = (request.params ?? {}) as Record<string, unknown>;
  const requested = typeof params.protocolVersion === 'string' ? params.protocolVersion : undefined;
  peer.protocolVersion = requested && SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION;
  const caps = params.capabilities;
  peer.capabilities = (caps && typeof caps === 'object' && !Array.isArray(caps) ? caps : {}) as Peer['capabilities'];
  peer.clientInfo = clientInfoOf(params.clientInfo);
  peer.initialized = true;
  return {
    protocolVersion: peer.protocolVersion,
    capabilities: advertisedCapabilities(child.capabilities),
    serverInfo: child.serverInfo,
    ...(child.instructions ? { instructions: child.instructions } : {}),
  };
}
