import type { ProgressToken, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Peer } from './peer.js';

/** A client request that went to the child and has not been answered yet. */
export interface Inflight {
  /**
   * The id the child knows the request by. It doubles as the bridge's progress token: upstream ids
   * are unique per bridge, so no second table is needed to find a progress update's owner.
   */
  readonly upstreamId: number;
  peer: Peer;
  clientId: RequestId;
  readonly method: string;
  /** The client's own token, put back on every progress update it receives. */
  clientProgressToken?: ProgressToken;
  /** When a progress update for this request last went to the client. */
  progressDeliveredAt?: number;
  /** Set on resources/subscribe that went upstream: undone if it fails. */
  subscribeUri?: string;
  /**
   * 2026-07-28 only: the request's HTTP response ended with `input_required` and the child is
   * waiting for the client's retry (see input-required.ts).
   */
  parked?: boolean;
  /** 2026 only: answers the client gave in advance (`inputResponses` on a first call), by key. */
  preAnswers?: Record<string, unknown>;
  /** 2026 only: a capability the bridge refused the child during this call (-32021). */
  refusedCapability?: string;
}

/** How many cancelled upstream ids are remembered, since many servers never answer them. */
const CANCELLED_MEMORY = 1000;

/**
 * The request table, keyed by upstream id. A peer's own requests are found through `peer.inflight`
 * (a handful at a time), so there is no reverse index to keep in step.
 */
export class RequestTable {
  private readonly byUpstream = new Map<number, Inflight>();
  /** Upstream ids cancelled by the bridge: a late answer to one of them is expected, not a misroute. */
  private readonly cancelled = new Set<number>();

  get size(): number {
    return this.byUpstream.size;
  }

  values(): IterableIterator<Inflight> {
    return this.byUpstream.values();
  }

  add(entry: Inflight): void {
    this.byUpstream.set(entry.upstreamId, entry);
    entry.peer.inflight.add(entry.upstreamId);
  }

  get(upstreamId: unknown): Inflight | undefined {
    return typeof upstreamId === 'number' ? this.byUpstream.get(upstreamId) : undefined;
  }

  /** The request a progress update from the child belongs to (the token is the upstream id). */
  byProgressToken(token: unknown): Inflight | undefined {
    const entry = this.get(token);
    return entry?.clientProgressToken !== undefined ? entry : undefined;
  }

  /** A peer's request by the id the client gave it. */
  find(peer: Peer, clientId: RequestId): Inflight | undefined {
    for (const id of peer.inflight) {
      const entry = this.byUpstream.get(id);
      if (entry && entry.clientId === clientId && !entry.parked) return entry;
    }
    return undefined;
  }

  remove(entry: Inflight): void {
    if (this.byUpstream.get(entry.upstreamId) === entry) this.byUpstream.delete(entry.upstreamId);
    entry.peer.inflight.delete(entry.upstreamId);
  }

  /** Hands a request to another peer: a 2026 retry takes over the call it continues. */
  moveTo(entry: Inflight, peer: Peer, clientId: RequestId): void {
    entry.peer.inflight.delete(entry.upstreamId);
    entry.peer = peer;
    entry.clientId = clientId;
    entry.parked = false;
    peer.inflight.add(entry.upstreamId);
  }

  /** Detaches a request from its peer without forgetting it: the peer may end, the call goes on. */
  park(entry: Inflight): void {
    entry.parked = true;
    entry.peer.inflight.delete(entry.upstreamId);
  }

  markCancelled(upstreamId: number): void {
    this.cancelled.add(upstreamId);
    if (this.cancelled.size > CANCELLED_MEMORY) this.cancelled.delete(this.cancelled.values().next().value as number);
  }

  /** True (once) when this id was cancelled by the bridge. */
  consumeCancelled(upstreamId: unknown): boolean {
    return typeof upstreamId === 'number' && this.cancelled.delete(upstreamId);
  }

  /** The child is gone: every entry is over, and ids are per child run. */
  clear(): Inflight[] {
    const all = [...this.byUpstream.values()];
    for (const e of all) this.remove(e);
    this.cancelled.clear();
    return all;
  }
}
