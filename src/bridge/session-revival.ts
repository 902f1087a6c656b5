import type { Logger } from '../util/log.js';
import { isLogLevel } from './log-levels.js';
import type { Peer, PeerInit } from './peer.js';
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from './protocol.js';
import type { SessionIdKind, SessionKeys } from './session-keys.js';
import type { SessionRecord, SessionStore } from './session-store.js';

/**
 * Sessions that outlive the bridge's memory and the bridge itself. Ids are minted verifiable
 * (session-keys.ts), each session's negotiated state is recorded (session-store.ts), and a request
 * or stream carrying a known id that is not in memory (after a restart, or after the session was
 * dropped for being idle) gets its session back as it was: no 404, no second initialize, its log
 * level and subscriptions in force again at the child.
 */
export class SessionRevival {
  revived = 0;
  refused = 0;

  constructor(
    private readonly keys: SessionKeys,
    readonly store: SessionStore,
    /** The resources a session is subscribed to (its router knows). */
    private readonly subscriptionsOf: (peer: Peer) => string[],
    private readonly log: Logger,
  ) {}

  /** A new session's id. */
  mint(kind: SessionIdKind): string {
    const now = Date.now();
    const id = this.keys.mint(kind, now);
    this.store.minted(id, now);
    return id;
  }

  /**
   * The state to revive an id with, or undefined when it is not a session (forged, of another
   * server or transport, deleted, expired): the caller answers 404 -32001.
   */
  resume(id: string, kind: SessionIdKind, headerVersion: string | undefined): SessionRecord | undefined {
    const verified = this.keys.verify(id, kind);
    if (!verified) {
      this.refused++;
      return undefined;
    }
    const found = this.store.lookup(id, verified.createdAt);
    if ('gone' in found) {
      this.refused++;
      return undefined;
    }
    if ('found' in found) return found.found;
    // Genuine but never written down (the bridge died within a second of its initialize): what the
    // client still tells on every request is its protocol version; it declared no capability the
    // bridge could route to, which only ever narrows what reaches it.
    const version = headerVersion && SUPPORTED_PROTOCOL_VERSIONS.includes(headerVersion) ? headerVersion : LATEST_PROTOCOL_VERSION;
    this.log.info(`session ${id.slice(0, 12)} was not saved before the bridge stopped: resumed with protocol ${version} and no client capabilities`);
    return { kind, protocolVersion: version, createdAt: verified.createdAt, lastSeen: Date.now() };
  }

  /**
   * What a revived session is connected with: initialized, its negotiated state as recorded; the
   * router it joins takes up its log level and subscriptions at the child.
   */
  peerInit(record: SessionRecord): Omit<PeerInit, 'id' | 'kind'> {
    return {
      protocolVersion: record.protocolVersion ?? LATEST_PROTOCOL_VERSION,
      capabilities: record.capabilities ?? {},
      ...(record.clientInfo ? { clientInfo: record.clientInfo } : {}),
      ...(isLogLevel(record.logLevel) ? { logLevel: record.logLevel } : {}),
      resumed: { subscriptions: record.subscriptions ?? [] },
    };
  }

  /** Counts and re-records a session connected with peerInit(record). */
  restored(peer: Peer, record: SessionRecord): void {
    this.revived++;
    this.store.save(peer.id, { ...record, ...this.stateOf(peer), lastSeen: Date.now() });
    this.log.info(`${peer.label} resumed`);
  }

  /**
   * A session that sends requests without having initialized: a client whose stream reconnected as
   * a new session (SDK v1's SSE client drops Last-Event-ID). It carries on with what any client
   * gets by default; what it set on the old session (subscriptions, log level) is not known here.
   */
  adopt(peer: Peer): void {
    if (peer.initialized) return;
    peer.protocolVersion = LATEST_PROTOCOL_VERSION;
    peer.initialized = true;
    this.log.info(`${peer.label} sent requests without initialize (its client reconnected): carried on with default settings`);
    this.record(peer);
  }

  /** Records a session's negotiated state after it changed (initialize, setLevel, subscribe). */
  record(peer: Peer): void {
    if (peer.era !== 'session' || !peer.initialized || peer.closed) return;
    const previous = this.store.get(peer.id);
    this.store.save(peer.id, { ...this.stateOf(peer), createdAt: previous?.createdAt ?? this.store.mintedAt(peer.id) ?? Date.now() });
  }

  /**
   * Notes when a session was last alive: on leaving memory (idle, its stream gone, the bridge
   * stopping; its record stays), and on every sweep (a stream open for days is alive all along).
   */
  seen(peer: Peer, now = Date.now()): void {
    this.store.seen(peer.id, peer.openStreams > 0 ? now : peer.lastActivity);
  }

  /** The client ended the session (DELETE): its id is refused from now on. */
  ended(id: string): void {
    this.store.forget(id);
  }

  private stateOf(peer: Peer): Omit<SessionRecord, 'createdAt' | 'lastSeen'> {
    const subs = peer.resumedSubscriptions ?? this.subscriptionsOf(peer);
    return {
      kind: peer.kind === 'sse' ? 'sse' : 'streamable-http',
      protocolVersion: peer.protocolVersion,
      ...(peer.clientInfo ? { clientInfo: peer.clientInfo } : {}),
      capabilities: peer.capabilities,
      ...(peer.logLevel ? { logLevel: peer.logLevel } : {}),
      ...(subs.length ? { subscriptions: subs } : {}),
    };
  }
}
