import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { ClientCapabilities, Implementation, LoggingLevel, RequestId } from '@modelcontextprotocol/sdk/types.js';

/**
 * How a peer reached the bridge. `stateless` is one MCP 2026-07-28 request (or one
 * `subscriptions/listen` stream): it lives exactly as long as its HTTP response.
 */
export type PeerKind = 'streamable-http' | 'sse' | 'stateless';

/** The protocol era of a peer: session-based (initialize, 2025-11-25 and older) or stateless (2026-07-28). */
export type Era = 'session' | 'stateless';

/**
 * What every client-side transport offers the router: the SDK's Transport, plus an optional way to
 * end one request's response without answering it (after a cancellation).
 */
export interface PeerTransport extends Transport {
  closeSSEStream?(requestId: RequestId): void;
}

export interface PeerInit {
  id: string;
  kind: PeerKind;
  /** For stateless peers: what the request's `_meta` declared. */
  capabilities?: ClientCapabilities;
  clientInfo?: Implementation;
  protocolVersion?: string;
  logLevel?: LoggingLevel;
  /**
   * A 2025 session revived from its record (session-revival.ts): it is initialized already, and
   * these are the resources it was subscribed to, taken up again by the router it joins.
   */
  resumed?: { subscriptions: string[] };
}

/**
 * One connected client-side endpoint, whatever its transport and era: a 2025 session (Streamable
 * HTTP or legacy SSE) or a single 2026 stateless request. The routing state that belongs to it lives
 * here; the router's tables refer to peers, never to transports.
 */
export class Peer {
  readonly era: Era;
  clientInfo?: Implementation;
  capabilities: ClientCapabilities;
  protocolVersion?: string;
  /** Session peers: set once initialize was answered. Stateless peers are born initialized. */
  initialized: boolean;
  /** Session peers: the level asked for with logging/setLevel. Stateless: the request's `_meta` level. */
  logLevel?: LoggingLevel;
  /** A revived session's subscriptions, until the router it joins has taken them up. */
  resumedSubscriptions?: string[];
  /** Upstream ids of this peer's requests still waiting for the child. */
  readonly inflight = new Set<number>();
  /** HTTP responses currently open for this peer (GET stream, POST streams, the SSE stream). */
  openStreams = 0;
  lastActivity = Date.now();
  closed = false;
  readonly id: string;
  readonly kind: PeerKind;

  constructor(
    init: PeerInit,
    readonly transport: PeerTransport,
  ) {
    this.id = init.id;
    this.kind = init.kind;
    this.era = init.kind === 'stateless' ? 'stateless' : 'session';
    this.capabilities = init.capabilities ?? {};
    this.clientInfo = init.clientInfo;
    this.protocolVersion = init.protocolVersion;
    this.logLevel = init.logLevel;
    this.initialized = this.era === 'stateless' || init.resumed !== undefined;
    if (init.resumed?.subscriptions.length) this.resumedSubscriptions = init.resumed.subscriptions;
  }

  touch(): void {
    this.lastActivity = Date.now();
  }

  send(message: Parameters<Transport['send']>[0], options?: TransportSendOptions): Promise<void> {
    return this.transport.send(message, options);
  }

  get label(): string {
    const who = this.clientInfo ? `${this.clientInfo.name}${this.clientInfo.version ? ' ' + this.clientInfo.version : ''}` : 'client';
    return this.era === 'stateless' ? `stateless request ${this.id.slice(0, 8)} (${who})` : `${this.kind} session ${this.id.slice(0, 8)} (${who})`;
  }
}

export type { RequestId };
