import type { InitializeResult, JSONRPCMessage, JSONRPCRequest, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../util/log.js';
import { acceptInitialize } from './initialize.js';
import { ErrorCode, errorResponse, isNotification, isRequest, isResponse } from './jsonrpc.js';
import { Peer, type PeerInit, type PeerTransport } from './peer.js';
import { PeerRoots } from './peer-roots.js';
import { describeRoots, intersectRoots, projectKeyOf, rootSet, rootsFromHeader, type Root } from './project-key.js';
import { RootsGate, type RootsHabit } from './roots-gate.js';
import { Router, type RouterOptions } from './router.js';
import type { ShareMode } from '../util/share-mode.js';
import { SUPPORTED_PROTOCOL_VERSIONS } from './protocol.js';
import { discoverResult } from './stateless.js';
import { canSleep, sleepChild } from './lazy-child.js';
import { attachSnapshot, type DiscoverySnapshot } from './snapshot.js';
import type { ChildDown, ChildState, Upstream } from './upstream.js';

/** What a client-side transport tells the pool besides its messages. */
export interface ConnectHints {
  /** The X-Mcpshare-Project header: the project directory the client entry names. */
  project?: string;
}

/** What the HTTP layer needs from whatever routes its peers: one router, or a pool of them. */
export interface PeerHub {
  connect(transport: PeerTransport, init: PeerInit, hints?: ConnectHints): Peer;
  cancelClientRequest(peer: Peer, clientId: RequestId, reason: string): void;
}

export interface ChildPoolOptions {
  name: string;
  share: ShareMode;
  /** A new, not yet started upstream for one child; `global` is the one child of global mode. */
  newUpstream(label: string, global: boolean): Upstream;
  router: Omit<RouterOptions, 'rootsFor'>;
  /** Project and session modes: a child with nothing to do for this long is stopped (Infinity: never). */
  childIdleMs: number;
  /**
   * What the server said about itself last time. Global mode: its router answers discovery from it
   * while the child sleeps. Project and session modes: a first initialize is answered from it,
   * without a spare child; every child start refreshes it.
   */
  snapshot?: DiscoverySnapshot;
  /** Project and session modes: a child that gave up may be tried again after this long. */
  retryFailedAfterMs: number;
  log: Logger;
}

/** One child of the pool, as /status and `status --json` show it. */
export interface ChildRow {
  /** `global`, `project`, `session`, or `spare` (started to answer a first initialize, not yet given to a project). */
  scope: 'global' | 'project' | 'session' | 'spare';
  /** For people: the project's roots, or the session it serves. */
  label: string;
  roots: string[];
  pid: number | null;
  state: ChildState;
  restarts: number;
  sessions: number;
  requestsServed: number;
  inFlight: number;
  idleSec: number;
  lastExit: { code: number | null; signal: string | null; reason: string } | null;
}

/** One child process with its dispatcher. */
class Slot {
  readonly peers = new Set<Peer>();
  lastActivity = Date.now();
  failedAt?: number;
  /** A spare's roots/list waits here until the spare is given to a project. */
  private rootsWaiters: Array<(roots: Root[]) => void> = [];
  /** A spare answered with no roots (nobody claimed it in time): told roots/list_changed once claimed. */
  rootsOwed = false;
  router!: Router;
  /** For logs: `#3` (global mode: `global`). */
  name = '';

  constructor(
    public key: string | undefined,
    public label: string,
    public roots: Root[],
    readonly upstream: Upstream,
    readonly gate: RootsGate,
  ) {}

  get scope(): ChildRow['scope'] {
    if (this.key === undefined) return 'spare';
    return this.key === 'global' ? 'global' : this.key.startsWith('session:') ? 'session' : 'project';
  }

  touch(): void {
    this.lastActivity = Date.now();
  }

  waitForRoots(timeoutMs: number): Promise<Root[]> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.rootsWaiters = this.rootsWaiters.filter((w) => w !== done);
        this.rootsOwed = true;
        resolve([]);
      }, timeoutMs);
      const done = (roots: Root[]) => {
        clearTimeout(timer);
        resolve(roots);
      };
      this.rootsWaiters.push(done);
    });
  }

  claim(key: string, label: string, roots: Root[]): void {
    this.key = key;
    this.label = label;
    this.roots = roots;
    for (const w of this.rootsWaiters.splice(0)) w(roots);
    if (this.rootsOwed && this.upstream.state === 'ready') {
      this.rootsOwed = false;
      this.gate.expect();
      this.upstream.notify('notifications/roots/list_changed');
    }
  }
}

/** How long a spare's roots/list waits for the spare to be given to a project. */
const SPARE_ROOTS_WAIT_MS = 10_000;

/**
 * The children of one bridge, keyed by who they serve, and the one rule they all follow: a child
 * never reaches further than the sessions it serves asked for.
 *
 * - global: one child started with the bridge. Its roots/list is answered with the roots every
 *   session shares (the intersection, maybe empty), never the union; when that set loses a root the
 *   child was given, the child is replaced (a server may keep roots it is later told to drop, and
 *   server-filesystem keeps its old set when handed an empty one).
 * - project: a session is placed once it makes its first request: the bridge asks it for its roots
 *   (on that request's stream) and gives it the child of that set of roots, or of the directory its
 *   X-Mcpshare-Project header names when it declares none; a session that names no project gets a
 *   child of its own. The child's roots/list is answered with its project's roots only.
 * - session: every session gets its own child, given that session's roots.
 * Project and session children start when first needed and stop when idle; each has its own restart
 * and crash-loop state. A session's first initialize is answered from what any child of this
 * server said in its handshake (a spare child is started for the very first one, and given to the
 * first project that needs a child).
 */
export class ChildPool implements PeerHub {
  readonly share: ShareMode;
  private readonly slots = new Map<string, Slot>();
  private spare?: Slot;
  private readonly peerSlot = new Map<Peer, Slot>();
  private readonly held = new Map<Peer, JSONRPCMessage[]>();
  private readonly headers = new Map<Peer, Root[]>();
  /** Project and session modes: sessions not given a child yet. */
  private readonly unplaced = new Set<Peer>();
  /** Global mode: sessions whose current roots are part of the intersection the child was last checked against. */
  private readonly counted = new Set<Peer>();
  private readonly roots: PeerRoots;
  private readonly habit: RootsHabit = {};
  private template?: InitializeResult;
  /** Global mode: the child asked for roots at least once (then /status warns). */
  private rootsAsked = false;
  /** Global mode: the canonical roots the child was last given; undefined until it is answered. */
  private given?: string[];
  private sweeper?: NodeJS.Timeout;
  private closing = false;
  private started = 0;
  /** Children put to sleep for being idle. */
  idleStops = 0;

  constructor(private readonly o: ChildPoolOptions) {
    this.share = o.share;
    this.roots = new PeerRoots(o.log.child('roots'));
    this.template = o.snapshot?.initResult;
    if (o.share === 'global') {
      this.slots.set('global', this.newSlot('global', 'global', [], true));
    } else {
      const every = Math.min(30_000, Math.max(250, Math.floor(o.childIdleMs / 2)));
      this.sweeper = setInterval(() => this.sweep(), every);
      this.sweeper.unref();
    }
  }

  /** Global mode: the one child. */
  get global(): Slot | undefined {
    return this.slots.get('global');
  }

  // ───────────────────────────── slots ─────────────────────────────

  private newSlot(key: string | undefined, label: string, roots: Root[], global = false): Slot {
    // Logs name a child by number (a spare gets its project later); "child N serves …" says which.
    const name = global ? '' : ` #${++this.started}`;
    const upstream = this.o.newUpstream(name.trim(), global);
    const slot = new Slot(key, label, roots, upstream, new RootsGate(this.habit));
    slot.name = name.trim() || 'global';
    slot.router = new Router(upstream, { ...this.o.router, rootsFor: () => this.rootsFor(slot) }, this.o.log.child(`router${name}`));
    const snapshot = this.o.snapshot;
    if (snapshot && global) attachSnapshot(snapshot, slot.router, this.o.log.child('snapshot'));
    upstream.on('ready', () => {
      if (upstream.initResult) this.template = upstream.initResult;
      slot.gate.childReady();
      // Lists may differ by project: the snapshot keeps the last child's, served only in global mode.
      if (snapshot && !global) void snapshot.refresh(upstream).catch((err: Error) => this.o.log.warn(`snapshot refresh failed: ${err.message}`));
    });
    upstream.on('down', (d: ChildDown) => {
      if (!d.final) slot.gate.arm();
    });
    upstream.on('fatal', (message) => {
      slot.failedAt = Date.now();
      slot.gate.release(); // its waiting requests get the router's "not running" error
      if (!global) this.o.log.error(`child ${slot.name} (${slot.label}): ${message}`);
    });
    return slot;
  }

  /** Starts a stopped child, or one that gave up long enough ago, for a request that needs it. */
  private wake(slot: Slot): void {
    const state = slot.upstream.state;
    if (state === 'idle' && !this.closing) {
      // Asleep (or never started, lazily): a new process asks for its roots again, so requests wait.
      slot.gate.arm();
      slot.upstream.wake();
    } else if (state === 'stopped' && !this.closing && slot.key !== 'global') {
      slot.gate.arm();
      slot.upstream.start();
    } else if (state === 'failed' && slot.key !== 'global' && Date.now() - (slot.failedAt ?? 0) > this.o.retryFailedAfterMs) {
      this.o.log.info(`child ${slot.name} (${slot.label}): trying the MCP server again`);
      slot.gate.arm();
      slot.upstream.start();
    }
  }

  /** The child of this key, created (or the spare claimed) if there is none yet. */
  private slotFor(key: string, label: string, roots: Root[]): Slot {
    const existing = this.slots.get(key);
    if (existing) return existing;
    let slot = this.spare;
    if (slot) {
      this.spare = undefined;
      slot.claim(key, label, roots);
      this.o.log.info(`child ${slot.name} (the spare) now serves ${label}`);
    } else {
      slot = this.newSlot(key, label, roots);
      this.o.log.info(`starting child ${slot.name} for ${label}`);
      slot.upstream.start();
    }
    this.slots.set(key, slot);
    return slot;
  }

  /** A child with no project yet, started to learn the server's answer to initialize. */
  private ensureSpare(): Slot {
    if (!this.spare) {
      this.spare = this.newSlot(undefined, 'spare', []);
      this.o.log.info(`starting child ${this.spare.name} to answer the first initialize (it goes to the first project that needs one)`);
      this.spare.upstream.start();
    }
    return this.spare;
  }

  private retire(slot: Slot, why: string): void {
    if (slot.key !== undefined && this.slots.get(slot.key) === slot) this.slots.delete(slot.key);
    if (this.spare === slot) this.spare = undefined;
    if (slot.upstream.state !== 'stopped') this.o.log.info(`stopping child ${slot.name} (${slot.label}): ${why}`);
    void slot.upstream.stop();
  }

  // ───────────────────────────── roots ─────────────────────────────

  /** The answer to a child's roots/list (see ServerRequestHost.rootsFor). */
  private rootsFor(slot: Slot): Promise<Root[]> | undefined {
    slot.gate.asked();
    const settle = (p: Promise<Root[]>) =>
      p.then((roots) => {
        slot.gate.answered();
        return roots;
      });
    if (this.share !== 'global') {
      if (slot.key === undefined) return settle(slot.waitForRoots(SPARE_ROOTS_WAIT_MS));
      return settle(Promise.resolve(slot.roots));
    }
    if (!this.rootsAsked) {
      this.rootsAsked = true;
      slot.router.serverRequests.warn(
        `the server asks clients for their roots, and it is shared by every session (global mode): it is given only the roots every session shares, so each session may reach less than it asked for; run it per project with "mcpshare edit ${this.o.name} --share project"`,
      );
    }
    // With no session connected, a 2026 call in progress may answer for itself (input_required).
    if (this.sessionsOf(slot).length === 0 && slot.router.serverRequests.requesters().length > 0) return undefined;
    return settle(
      this.intersection(slot).then((roots) => {
        this.given = rootSet(roots);
        return roots;
      }),
    );
  }

  private sessionsOf(slot: Slot): Peer[] {
    return [...slot.router.peers.values()].filter((p) => p.era === 'session' && p.initialized && !p.closed);
  }

  /**
   * Global mode: the roots every initialized session shares. A session whose roots are not known
   * yet counts as sharing none (the narrowest answer, given at once); it is asked at its next
   * request, on that request's stream, and the child is told when the set grows.
   */
  private async intersection(slot: Slot): Promise<Root[]> {
    const sets: Root[][] = [];
    let unknown = false;
    for (const p of this.sessionsOf(slot)) {
      const known = this.roots.get(p);
      if (known === undefined) {
        unknown = true;
        continue;
      }
      sets.push(known);
      this.counted.add(p);
    }
    return unknown ? [] : intersectRoots(sets);
  }

  /**
   * Global mode, after the sessions changed: a child that holds a root not every session shares is
   * replaced; one that may now be given more is told roots/list_changed.
   */
  private async recount(slot: Slot): Promise<void> {
    // With no session left nobody's reach can be widened: the next session to join is checked.
    if (!this.rootsAsked || this.sessionsOf(slot).length === 0) return;
    const now = rootSet(await this.intersection(slot));
    const given = this.given;
    if (given === undefined) return;
    if (given.some((u) => !now.includes(u))) {
      this.given = undefined;
      slot.gate.arm();
      const replaced = slot.upstream.recycle('it holds roots that not every session shares (global mode); the new process is given only the shared ones');
      // No process to replace: the next one is asked fresh, and the gate opens when it is ready.
      if (!replaced && slot.upstream.state !== 'starting' && slot.upstream.state !== 'restarting') slot.gate.release();
    } else if (now.some((u) => !given.includes(u)) && slot.upstream.state === 'ready') {
      slot.gate.expect();
      slot.upstream.notify('notifications/roots/list_changed');
    }
  }

  // ───────────────────────────── peers ─────────────────────────────

  connect(transport: PeerTransport, init: PeerInit, hints: ConnectHints = {}): Peer {
    const peer = new Peer(init, transport);
    if (hints.project !== undefined) {
      try {
        this.headers.set(peer, rootsFromHeader(hints.project));
      } catch (err) {
        this.o.log.warn(`${peer.label}: ${(err as Error).message}; ignored`);
      }
    }
    const previousClose = transport.onclose;
    transport.onmessage = (message) => this.onMessage(peer, message);
    transport.onclose = () => {
      previousClose?.();
      this.onClose(peer);
    };
    const global = this.global;
    if (global) this.attach(peer, global);
    else if (peer.era === 'stateless') {
      const header = this.headers.get(peer);
      const key = header && this.share === 'project' ? projectKeyOf(header) : undefined;
      if (key) this.attach(peer, this.slotFor(key, `project ${describeRoots(header!)}`, header!));
    } else this.unplaced.add(peer);
    return peer;
  }

  cancelClientRequest(peer: Peer, clientId: RequestId, reason: string): void {
    const held = this.held.get(peer);
    if (held) {
      const i = held.findIndex((m) => isRequest(m) && m.id === clientId);
      if (i >= 0) {
        held.splice(i, 1);
        return;
      }
    }
    this.peerSlot.get(peer)?.router.cancelClientRequest(peer, clientId, reason);
  }

  private attach(peer: Peer, slot: Slot): void {
    this.unplaced.delete(peer);
    this.peerSlot.set(peer, slot);
    slot.peers.add(peer);
    slot.touch();
    slot.router.adopt(peer);
  }

  private onClose(peer: Peer): void {
    this.unplaced.delete(peer);
    this.held.delete(peer);
    this.headers.delete(peer);
    this.roots.forget(peer);
    this.counted.delete(peer);
    const slot = this.peerSlot.get(peer);
    this.peerSlot.delete(peer);
    if (!slot) {
      peer.closed = true;
      return;
    }
    slot.peers.delete(peer);
    slot.touch();
    slot.router.removePeer(peer, 'closed');
    if (slot.scope === 'session' && slot.peers.size === 0) this.retire(slot, 'its session ended');
    else if (slot.key === 'global' && peer.era === 'session') void this.recount(slot);
  }

  private onMessage(peer: Peer, message: JSONRPCMessage): void {
    if (peer.closed) return;
    peer.touch();
    if (isResponse(message) && this.roots.onResponse(peer, message)) return;
    const slot = this.peerSlot.get(peer);
    if (peer.era === 'stateless') {
      if (slot) this.route(peer, slot, message);
      else this.refuseStateless(peer, message);
      return;
    }
    if (isNotification(message) && message.method === 'notifications/roots/list_changed') {
      // Asked again before its next request is routed; the child hears of it only through the pool.
      this.roots.markStale(peer);
      this.counted.delete(peer);
      return;
    }
    const held = this.held.get(peer);
    if (held) {
      held.push(message);
      return;
    }
    if (!slot) {
      this.lobby(peer, message);
      return;
    }
    if (isRequest(message) && this.mustRecheck(peer, slot)) {
      this.hold(peer, message, this.recheck(peer, slot, message.id));
      return;
    }
    this.route(peer, slot, message);
  }

  /** To the peer's child, once the child has its roots. */
  private route(peer: Peer, slot: Slot, message: JSONRPCMessage): void {
    slot.touch();
    // What the bridge answers itself (or a notification, a client's reply) neither wakes a sleeping
    // child nor waits for its roots.
    if (!isRequest(message) || !slot.router.needsChild(message)) {
      slot.router.handleClientMessage(peer, message);
      return;
    }
    this.wake(slot);
    // initialize and ping reach nothing the roots scope; everything else waits for them.
    if (!slot.gate.isOpen && message.method !== 'initialize' && message.method !== 'ping') {
      this.hold(peer, message, slot.gate.wait());
      return;
    }
    slot.router.handleClientMessage(peer, message);
  }

  /** Keeps a peer's messages, in order, until `until` settles; then routes them as they came. */
  private hold(peer: Peer, first: JSONRPCMessage, until: Promise<unknown>): void {
    this.held.set(peer, [first]);
    void until.then(() => {
      const queue = this.held.get(peer);
      this.held.delete(peer);
      if (!queue || peer.closed) return;
      for (const m of queue) {
        // A message may hold the peer again (a roots change); the rest then wait behind it.
        const again = this.held.get(peer);
        if (again) again.push(m);
        else this.onMessage(peer, m);
      }
    });
  }

  /** A session not placed yet (project and session modes). */
  private lobby(peer: Peer, message: JSONRPCMessage): void {
    if (!isRequest(message)) return; // notifications/initialized is the bridge's own business
    if (message.method === 'initialize') {
      void this.answerInitialize(peer, message);
      return;
    }
    if (message.method === 'ping') {
      void peer.send({ jsonrpc: '2.0', id: message.id, result: {} }).catch(() => undefined);
      return;
    }
    this.hold(peer, message, this.place(peer, message.id));
  }

  /**
   * The InitializeResult clients are answered from: a child's handshake, starting the spare when no
   * child has run yet. Undefined, with the peer told why, when none comes up in time.
   */
  private async childHandshake(peer: Peer, request: JSONRPCRequest): Promise<InitializeResult | undefined> {
    if (this.template) return this.template;
    const spare = this.ensureSpare();
    try {
      await spare.upstream.whenReady(this.o.router.queueTimeoutMs);
      return spare.upstream.initResult as InitializeResult;
    } catch (err) {
      await peer.send(errorResponse(request.id, ErrorCode.ServerUnavailable, `mcpshare: ${(err as Error).message}`)).catch(() => undefined);
      return undefined;
    }
  }

  private async answerInitialize(peer: Peer, request: JSONRPCRequest): Promise<void> {
    const child = await this.childHandshake(peer, request);
    if (!child) {
      setImmediate(() => void peer.transport.close());
      return;
    }
    if (peer.closed) return;
    const result = acceptInitialize(peer, request, child);
    this.o.router.onSessionState?.(peer);
    this.o.log.info(
      `${peer.label} initialized (protocol ${peer.protocolVersion}); its ${this.share === 'session' ? 'child' : 'project'} is chosen at its first request`,
    );
    await peer.send({ jsonrpc: '2.0', id: request.id, result } as unknown as JSONRPCMessage).catch(() => undefined);
  }

  /** Chooses the session's child: from its roots, else its project header, else a child of its own. */
  private async place(peer: Peer, relatedRequestId: RequestId): Promise<void> {
    const roots = await this.roots.ask(peer, relatedRequestId);
    if (peer.closed) return;
    const { key, label, given } = this.keyOf(peer, roots);
    this.attach(peer, this.slotFor(key, label, given));
    this.o.log.info(`${peer.label} is served by child ${this.peerSlot.get(peer)?.name} (${label})`);
  }

  private keyOf(peer: Peer, roots: Root[]): { key: string; label: string; given: Root[] } {
    const header = this.headers.get(peer);
    const own = `session:${peer.id}`;
    if (this.share === 'session') {
      const given = roots.length ? roots : (header ?? []);
      return { key: own, label: `session ${peer.id.slice(0, 8)}`, given };
    }
    const fromRoots = projectKeyOf(roots);
    if (fromRoots) return { key: fromRoots, label: `project ${describeRoots(roots)}`, given: roots };
    const fromHeader = header ? projectKeyOf(header) : undefined;
    if (fromHeader) return { key: fromHeader, label: `project ${describeRoots(header!)}`, given: header! };
    this.o.log.info(`${peer.label} names no project (no roots, no X-Mcpshare-Project header): it gets a child of its own`);
    return { key: own, label: `session ${peer.id.slice(0, 8)} (no project)`, given: [] };
  }

  /** Whether the peer's roots must be looked at again before this request goes to its child. */
  private mustRecheck(peer: Peer, slot: Slot): boolean {
    if (!peer.initialized) return false;
    if (slot.key === 'global') return this.rootsAsked && !this.counted.has(peer);
    return this.roots.unknown(peer);
  }

  /** A session's roots changed (or, in global mode, it joined): re-place it or re-tell its child. */
  private async recheck(peer: Peer, slot: Slot, relatedRequestId: RequestId): Promise<void> {
    const roots = this.roots.get(peer) ?? (await this.roots.ask(peer, relatedRequestId));
    if (peer.closed) return;
    if (slot.key === 'global') {
      // Counted now, whatever the others are: the next request of this peer goes on (no re-check loop).
      this.counted.add(peer);
      await this.recount(slot);
      return;
    }
    if (slot.scope === 'session') {
      const given = roots.length ? roots : (this.headers.get(peer) ?? []);
      if (rootSet(given).join('\n') !== rootSet(slot.roots).join('\n')) {
        slot.roots = given;
        if (slot.upstream.state === 'ready') {
          slot.gate.expect();
          slot.upstream.notify('notifications/roots/list_changed');
        }
      }
      return;
    }
    const next = this.keyOf(peer, roots);
    if (next.key === slot.key) return;
    this.move(peer, slot, this.slotFor(next.key, next.label, next.given));
  }

  /** Project mode: a session whose roots now name another project moves to that project's child. */
  private move(peer: Peer, from: Slot, to: Slot): void {
    const cut = [...peer.inflight].map((id) => from.router.table.get(id)).filter((e) => e !== undefined);
    from.router.detach(peer, `its roots changed: it moves to the child for ${to.label}`);
    from.peers.delete(peer);
    for (const e of cut) {
      if (e.parked) continue;
      const reply = errorResponse(
        e.clientId,
        ErrorCode.ServerUnavailable,
        "mcpshare: this session's roots changed, so it moved to the MCP server process of its new project; retry the call",
      );
      void peer.send(reply, { relatedRequestId: e.clientId }).catch(() => undefined);
    }
    if (from.scope === 'session' && from.peers.size === 0) this.retire(from, 'its session moved to a project');
    this.attach(peer, to);
    this.o.log.info(`${peer.label} moved to the child for ${to.label}`);
  }

  /** A 2026 request in project or session mode with no project to serve it. */
  private refuseStateless(peer: Peer, message: JSONRPCMessage): void {
    if (!isRequest(message)) return;
    if (message.method === 'server/discover') {
      void this.discover(peer, message);
      return;
    }
    const why =
      this.share === 'session'
        ? `"${this.o.name}" runs one MCP server process per session, and a stateless (2026-07-28) request has no session: connect with initialize (protocol 2025-11-25) instead`
        : `"${this.o.name}" runs one MCP server process per project, and a stateless (2026-07-28) request carries no roots: send the X-Mcpshare-Project header with the project's absolute directory, or connect with initialize (protocol 2025-11-25) so the bridge can ask for your roots`;
    void peer.send(errorResponse(message.id, ErrorCode.InvalidRequest, `mcpshare: ${why}`)).catch(() => undefined);
  }

  /** server/discover reaches no project: answered from any child's handshake, offering sessions only. */
  private async discover(peer: Peer, request: JSONRPCRequest): Promise<void> {
    const child = await this.childHandshake(peer, request);
    if (!child) return;
    // Only the session-based versions: a client that can fall back (Claude Code, SDK v2 in auto
    // mode) then opens a 2025 session, whose roots the bridge can ask, instead of sending stateless
    // requests that name no project. With the project header, discovery goes to that project's child.
    const result = { ...discoverResult(child), supportedVersions: [...SUPPORTED_PROTOCOL_VERSIONS] };
    await peer.send({ jsonrpc: '2.0', id: request.id, result } as JSONRPCMessage).catch(() => undefined);
  }

  // ───────────────────────────── idle ─────────────────────────────

  /** Stops children with nothing to do for the idle time, and forgets those no session uses. */
  sweep(now = Date.now()): void {
    const idle = (s: Slot) => now - s.lastActivity > this.o.childIdleMs;
    for (const slot of [...this.slots.values(), ...(this.spare ? [this.spare] : [])]) {
      if (slot.key === 'global') continue;
      if (slot.peers.size === 0) {
        // A session's child ends with its session; a project's waits the idle time for the next one.
        if (slot.scope === 'session' || idle(slot)) this.retire(slot, slot.scope === 'spare' ? 'no project claimed it' : 'no session uses it');
        continue;
      }
      if (canSleep(slot.router) && idle(slot)) {
        this.o.log.info(
          `stopping child ${slot.name} (${slot.label}): idle for ${Math.round((now - slot.lastActivity) / 1000)} s (it starts again on the next request)`,
        );
        this.idleStops++;
        void sleepChild(slot.router);
      }
    }
  }

  // ───────────────────────────── status ─────────────────────────────

  rows(): ChildRow[] {
    const now = Date.now();
    const all = [...this.slots.values(), ...(this.spare ? [this.spare] : [])];
    return all.map((slot) => {
      const s = slot.router.stats();
      const exit = slot.upstream.lastExit;
      return {
        scope: slot.scope,
        label: slot.label,
        roots: slot.key === 'global' ? (this.given ?? []) : rootSet(slot.roots),
        // A stopped child's last process is gone: no pid to show.
        pid: slot.upstream.state === 'stopped' || slot.upstream.state === 'failed' ? null : (slot.upstream.pid ?? null),
        state: slot.upstream.state,
        restarts: slot.upstream.restarts,
        sessions: s.sessions.total,
        requestsServed: s.requestsServed,
        inFlight: s.inFlight,
        idleSec: Math.round((now - slot.lastActivity) / 1000),
        lastExit: exit ? { code: exit.code, signal: exit.signal, reason: exit.reason } : null,
      };
    });
  }

  routers(): Router[] {
    return [...this.slots.values(), ...(this.spare ? [this.spare] : [])].map((s) => s.router);
  }

  upstreams(): Upstream[] {
    return [...this.slots.values(), ...(this.spare ? [this.spare] : [])].map((s) => s.upstream);
  }

  /** What the server said in its handshake (any child's), once one has started. */
  get serverInfo(): InitializeResult | undefined {
    return this.template;
  }

  /** The resources a session is subscribed to at its child (none while it waits for one). */
  subscriptionsOf(peer: Peer): string[] {
    return this.peerSlot.get(peer)?.router.subscriptions.of(peer) ?? [];
  }

  /** How long a project or session child with nothing to do runs on (Infinity: until its session ends). */
  get childIdleMs(): number {
    return this.o.childIdleMs;
  }

  /** Sessions not placed on a child yet (project and session modes). */
  get waitingSessions(): number {
    return this.unplaced.size;
  }

  // ───────────────────────────── shutdown ─────────────────────────────

  /** Every waiting request gets an error, and no child is restarted from now on. */
  shutdown(reason: string): void {
    this.closing = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const [peer, queue] of this.held) {
      for (const m of queue) {
        if (isRequest(m)) void peer.send(errorResponse(m.id, ErrorCode.ServerUnavailable, `mcpshare: ${reason}; retry once it is back`)).catch(() => undefined);
      }
    }
    this.held.clear();
    for (const u of this.upstreams()) u.markStopping();
    for (const r of this.routers()) r.shutdown(reason);
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled(this.upstreams().map((u) => u.stop()));
  }

  killAllNow(): void {
    for (const u of this.upstreams()) u.killNow();
  }
}
