import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { ClientCapabilities, Implementation, LoggingLevel, RequestId } from '@modelcontextprotocol/sdk/types.js';

export type SessionKind = 'streamable-http' | 'sse';

/** One connected client, whatever its transport. All routing state for it lives here. */
export class Session {
  clientInfo?: Implementation;
  capabilities: ClientCapabilities = {};
  protocolVersion?: string;
  initialized = false;
  /** Level asked for with logging/setLevel; undefined until the client asks. */
  logLevel?: LoggingLevel;
  readonly subscriptions = new Set<string>();
  /** Upstream ids of this session's requests still waiting for the child. */
  readonly inflight = new Set<number>();
  /** HTTP responses currently open for this session (GET stream, POST streams, the SSE stream). */
  openStreams = 0;
  lastActivity = Date.now();
  closed = false;

  constructor(
    public id: string,
    readonly kind: SessionKind,
    readonly transport: Transport,
  ) {}

  touch(): void {
    this.lastActivity = Date.now();
  }

  get label(): string {
    const who = this.clientInfo ? `${this.clientInfo.name}${this.clientInfo.version ? ' ' + this.clientInfo.version : ''}` : 'client';
    return `${this.kind} session ${this.id.slice(0, 8)} (${who})`;
  }
}

export type { RequestId };
