import type { JSONRPCMessage, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../util/log.js';
import type { JSONRPCResponseMessage } from './jsonrpc.js';
import type { Peer } from './peer.js';
import { describeRoots, validRoots, type Root } from './project-key.js';

/** How long a session has to answer the bridge's roots/list before it counts as naming no roots. */
export const ROOTS_ANSWER_TIMEOUT_MS = 10_000;

interface Asking {
  peer: Peer;
  resolve: (roots: Root[]) => void;
  timer: NodeJS.Timeout;
}

/**
 * What each 2025 session says its roots are, asked by the bridge itself (`roots/list`) and kept
 * until the session reports `notifications/roots/list_changed`. The bridge's own requests carry
 * string ids of their own, so a session's answer is told apart from answers to the child's requests.
 */
export class PeerRoots {
  private readonly known = new Map<Peer, Root[]>();
  private readonly stale = new Set<Peer>();
  private readonly asking = new Map<string, Asking>();
  private readonly inFlight = new Map<Peer, Promise<Root[]>>();
  private counter = 0;

  constructor(
    private readonly log: Logger,
    private readonly timeoutMs = ROOTS_ANSWER_TIMEOUT_MS,
  ) {}

  /** The session's roots when known and current. A session that declared no roots capability has none. */
  get(peer: Peer): Root[] | undefined {
    if (!peer.capabilities.roots) return [];
    return this.stale.has(peer) ? undefined : this.known.get(peer);
  }

  /** True when the bridge must ask before it can tell this session's roots. */
  unknown(peer: Peer): boolean {
    return this.get(peer) === undefined;
  }

  /** The session said its roots changed: they are asked again before its next request is routed. */
  markStale(peer: Peer): void {
    if (peer.capabilities.roots) this.stale.add(peer);
  }

  /**
   * Asks the session for its roots; `relatedRequestId` puts the question on that request's response
   * stream (a Streamable HTTP session may have no standalone stream open yet). Never rejects: no
   * answer, an error or a malformed answer counts as no roots, the narrowest reach.
   */
  ask(peer: Peer, relatedRequestId?: RequestId): Promise<Root[]> {
    if (!peer.capabilities.roots) return Promise.resolve([]);
    const running = this.inFlight.get(peer);
    if (running) return running;
    this.stale.delete(peer);
    const id = `mcpshare-roots-${++this.counter}`;
    const p = new Promise<Root[]>((resolve) => {
      const timer = setTimeout(() => {
        this.asking.delete(id);
        this.log.warn(`${peer.label} did not answer roots/list within ${Math.round(this.timeoutMs / 1000)} s: treated as naming no roots`);
        resolve([]);
      }, this.timeoutMs);
      this.asking.set(id, { peer, resolve, timer });
      const message = { jsonrpc: '2.0', id, method: 'roots/list' } as JSONRPCMessage;
      peer.send(message, relatedRequestId !== undefined ? { relatedRequestId } : undefined).catch((err: Error) => {
        this.log.debug(`could not ask ${peer.label} for roots: ${err.message}`);
      });
    }).then((roots) => {
      this.inFlight.delete(peer);
      if (!peer.closed) this.known.set(peer, roots);
      return roots;
    });
    this.inFlight.set(peer, p);
    return p;
  }

  /** A session's answer to one of the bridge's roots/list requests: consumed here (true), or not ours. */
  onResponse(peer: Peer, response: JSONRPCResponseMessage): boolean {
    if (typeof response.id !== 'string') return false;
    const a = this.asking.get(response.id);
    if (!a || a.peer !== peer) return false;
    this.asking.delete(response.id);
    clearTimeout(a.timer);
    if ('error' in response) {
      this.log.info(`${peer.label} answered roots/list with an error (${response.error.message}): treated as naming no roots`);
      a.resolve([]);
      return true;
    }
    const roots = validRoots((response.result as { roots?: unknown } | undefined)?.roots);
    this.log.info(`${peer.label} roots: ${describeRoots(roots)}`);
    a.resolve(roots);
    return true;
  }

  forget(peer: Peer): void {
    this.known.delete(peer);
    this.stale.delete(peer);
    for (const [id, a] of this.asking) {
      if (a.peer !== peer) continue;
      this.asking.delete(id);
      clearTimeout(a.timer);
      a.resolve([]);
    }
  }
}
