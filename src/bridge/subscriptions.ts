import type { Logger } from '../util/log.js';
import type { Peer } from './peer.js';
import type { Upstream } from './upstream.js';

/**
 * Resource subscriptions, refcounted across both eras: the child is subscribed once per URI, for as
 * long as any subscriber (a 2025 session or a 2026 `subscriptions/listen` stream) wants it.
 */
export class Subscriptions {
  private readonly byUri = new Map<string, Set<Peer>>();
  private readonly byPeer = new Map<Peer, Set<string>>();

  constructor(
    private readonly upstream: Upstream,
    private readonly log: Logger,
  ) {}

  uris(): IterableIterator<string> {
    return this.byUri.keys();
  }

  subscribers(uri: string): ReadonlySet<Peer> | undefined {
    return this.byUri.get(uri);
  }

  has(peer: Peer, uri: string): boolean {
    return this.byPeer.get(peer)?.has(uri) ?? false;
  }

  of(peer: Peer): string[] {
    return [...(this.byPeer.get(peer) ?? [])];
  }

  /**
   * Adds a subscriber. Returns 'first' when no one was subscribed to this URI yet: the caller then
   * subscribes upstream (with the client's own request, whose answer is the child's).
   */
  add(peer: Peer, uri: string): 'first' | 'joined' | 'already' {
    if (this.has(peer, uri)) return 'already';
    let set = this.byUri.get(uri);
    const first = !set || set.size === 0;
    if (!set) this.byUri.set(uri, (set = new Set()));
    set.add(peer);
    let mine = this.byPeer.get(peer);
    if (!mine) this.byPeer.set(peer, (mine = new Set()));
    mine.add(uri);
    return first ? 'first' : 'joined';
  }

  /**
   * Removes a subscriber. Returns 'last' when it was the last one: the caller unsubscribes upstream
   * (or lets the client's unsubscribe request through).
   */
  remove(peer: Peer, uri: string): 'last' | 'left' | 'absent' {
    const mine = this.byPeer.get(peer);
    if (!mine?.delete(uri)) return 'absent';
    if (mine.size === 0) this.byPeer.delete(peer);
    const set = this.byUri.get(uri);
    set?.delete(peer);
    if (set && set.size > 0) return 'left';
    this.byUri.delete(uri);
    return 'last';
  }

  /** A subscriber went away: unsubscribes upstream from every URI it was the last one for. */
  dropAll(peer: Peer): void {
    for (const uri of this.of(peer)) {
      if (this.remove(peer, uri) === 'last') this.unsubscribeUpstream(uri);
    }
  }

  /** Subscribes upstream on a subscriber's behalf (2026 listen streams have no request of their own to forward). */
  subscribeUpstream(uri: string): void {
    if (this.upstream.state !== 'ready') return; // replayed on ready
    this.upstream.request('resources/subscribe', { uri }).catch((e) => this.log.warn(`subscribe ${uri}: ${(e as Error).message}`));
  }

  unsubscribeUpstream(uri: string): void {
    if (this.upstream.state !== 'ready') return;
    this.upstream.request('resources/unsubscribe', { uri }).catch((e) => this.log.debug(`unsubscribe ${uri}: ${(e as Error).message}`));
  }

  /** The requests that put a restarted child back in the same subscriptions. */
  replay(): Promise<unknown>[] {
    return [...this.byUri.keys()].map((uri) => this.upstream.request('resources/subscribe', { uri }));
  }
}
