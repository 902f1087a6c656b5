import type { LoggingLevel } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../util/log.js';
import type { Peer } from './peer.js';
import type { Upstream } from './upstream.js';

/** Syslog severities in increasing order, as MCP's logging/setLevel uses them. */
export const LOG_LEVELS: readonly LoggingLevel[] = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

export function isLogLevel(v: unknown): v is LoggingLevel {
  return typeof v === 'string' && (LOG_LEVELS as readonly string[]).includes(v);
}

export function severity(level: string): number {
  const i = LOG_LEVELS.indexOf(level as LoggingLevel);
  return i < 0 ? 1 : i;
}

/** What a session receives before it has asked for a level itself. */
export const DEFAULT_SESSION_LOG_LEVEL: LoggingLevel = 'info';

/**
 * Whether a `notifications/message` at `level` goes to this peer. A 2025 session gets `info` and
 * above until it asks for a level; a 2026 request gets log messages only when its `_meta` asked.
 */
export function wantsLog(peer: Peer, level: string): boolean {
  if (!peer.initialized) return false;
  const own = peer.logLevel ?? (peer.era === 'session' ? DEFAULT_SESSION_LOG_LEVEL : undefined);
  return own !== undefined && severity(level) >= severity(own);
}

/**
 * The one child runs at the most verbose level any peer asked for; each peer then gets only what its
 * own level allows. Only changes are sent upstream, and a restarted child gets the level replayed.
 */
export class ChildLogLevel {
  private current?: LoggingLevel;

  constructor(
    private readonly upstream: Upstream,
    private readonly peers: () => Iterable<Peer>,
    private readonly log: Logger,
  ) {}

  /** The most verbose level any peer asked for, if any did. */
  wanted(): LoggingLevel | undefined {
    let wanted: LoggingLevel | undefined;
    for (const p of this.peers()) {
      if (p.logLevel && (!wanted || severity(p.logLevel) < severity(wanted))) wanted = p.logLevel;
    }
    return wanted;
  }

  /** Sends logging/setLevel when the wanted level became more or less verbose. */
  sync(): void {
    if (!this.upstream.initResult?.capabilities.logging) return;
    const wanted = this.wanted();
    if (!wanted || wanted === this.current) return;
    this.current = wanted;
    if (this.upstream.state !== 'ready') return; // replayed on ready
    this.upstream.request('logging/setLevel', { level: wanted }).catch((e) => this.log.warn(`logging/setLevel failed: ${(e as Error).message}`));
  }

  /** The request that puts a fresh child at the wanted level, or undefined when none is wanted. */
  replay(): Promise<unknown> | undefined {
    const level = this.wanted();
    if (!level || !this.upstream.initResult?.capabilities.logging) return undefined;
    this.current = level;
    return this.upstream.request('logging/setLevel', { level });
  }

  /** The child is gone: whatever it was set to is forgotten. */
  reset(): void {
    this.current = undefined;
  }
}
