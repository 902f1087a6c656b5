import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { InitializeResult, JSONRPCMessage, JSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';
import { writeFileAtomic } from '../util/atomic.js';
import type { Logger } from '../util/log.js';
import type { Peer } from './peer.js';
import type { Router } from './router.js';
import type { Upstream } from './upstream.js';

/** The lists a snapshot keeps, the method that reads each, and the capability that offers it. */
const LISTS = [
  { key: 'tools', method: 'tools/list', cap: 'tools', note: 'notifications/tools/list_changed' },
  { key: 'prompts', method: 'prompts/list', cap: 'prompts', note: 'notifications/prompts/list_changed' },
  { key: 'resources', method: 'resources/list', cap: 'resources', note: 'notifications/resources/list_changed' },
  { key: 'resourceTemplates', method: 'resources/templates/list', cap: 'resources', note: 'notifications/resources/list_changed' },
] as const;
type ListKey = (typeof LISTS)[number]['key'];

/** A server that pages its lists this deep is read no further (a runaway cursor). */
const MAX_PAGES = 50;

interface SnapshotFile {
  version: 1;
  /** Which command line it was taken from: the snapshot of another command is never served. */
  command: string;
  takenAt: string;
  initResult: InitializeResult;
  lists: Partial<Record<ListKey, unknown[]>>;
}

export interface SnapshotSummary {
  takenAt: string;
  tools: number | null;
  prompts: number | null;
  resources: number | null;
  resourceTemplates: number | null;
}

/** The identity of a child's command line, for matching a snapshot to the server it describes. */
export function commandKey(command: string, args: readonly string[], cwd?: string): string {
  return createHash('sha256')
    .update(JSON.stringify([command, args, cwd ?? '']))
    .digest('hex')
    .slice(0, 16);
}

/**
 * What a server says about itself (its InitializeResult and its tools, prompts, resources and
 * templates), kept on disk and refreshed every time its child starts. While the child sleeps (or
 * before it was ever started by this bridge), `initialize`, `server/discover` and the first page of
 * each list are answered from here, so a client that connects and looks around costs no process.
 * When a fresh child says something different, every session and listen stream is told what changed.
 */
export class DiscoverySnapshot {
  private data?: SnapshotFile;

  constructor(
    private readonly file: string | undefined,
    private readonly command: string,
    private readonly log: Logger,
  ) {
    if (file) this.data = this.load(file);
  }

  get initResult(): InitializeResult | undefined {
    return this.data?.initResult;
  }

  summary(): SnapshotSummary | null {
    const d = this.data;
    if (!d) return null;
    const n = (k: ListKey) => d.lists[k]?.length ?? null;
    return { takenAt: d.takenAt, tools: n('tools'), prompts: n('prompts'), resources: n('resources'), resourceTemplates: n('resourceTemplates') };
  }

  /** The result for a list request (first page only: the snapshot holds every page in one), if kept. */
  answer(method: string, params: unknown): Record<string, unknown> | undefined {
    const list = LISTS.find((l) => l.method === method);
    if (!list || !this.data) return undefined;
    const cursor = (params as { cursor?: unknown } | undefined)?.cursor;
    if (cursor !== undefined) return undefined;
    const items = this.data.lists[list.key];
    return items ? { [list.key]: items } : undefined;
  }

  /**
   * Reads the fresh child's lists, keeps them, and returns the list_changed notifications owed to
   * clients that were served the previous snapshot (none when there was none).
   */
  async refresh(upstream: Upstream): Promise<string[]> {
    const init = upstream.initResult;
    if (!init) return [];
    const lists: Partial<Record<ListKey, unknown[]>> = {};
    for (const l of LISTS) {
      if (!init.capabilities[l.cap]) continue;
      const items = await readAll(upstream, l.method, l.key).catch((err: Error) => {
        this.log.debug(`snapshot: ${l.method} failed: ${err.message}`);
        return undefined;
      });
      if (items) lists[l.key] = items;
    }
    if (upstream.initResult !== init) return []; // a newer child started meanwhile: its own refresh counts
    const previous = this.data;
    const next: SnapshotFile = { version: 1, command: this.command, takenAt: new Date().toISOString(), initResult: init, lists };
    this.data = next;
    if (this.file) {
      try {
        writeFileAtomic(this.file, JSON.stringify(next), 0o600);
      } catch (err) {
        this.log.warn(`could not save the discovery snapshot to ${this.file}: ${(err as Error).message}`);
      }
    }
    if (!previous) return [];
    const notes = new Set<string>();
    for (const l of LISTS) {
      if (JSON.stringify(previous.lists[l.key] ?? null) !== JSON.stringify(lists[l.key] ?? null)) notes.add(l.note);
    }
    if (notes.size) this.log.info(`the server's ${[...notes].map((n) => n.split('/')[1]).join(', ')} changed since the last snapshot: clients are told`);
    return [...notes];
  }

  private load(file: string): SnapshotFile | undefined {
    if (!existsSync(file)) return undefined;
    try {
      const d = JSON.parse(readFileSync(file, 'utf8')) as SnapshotFile;
      if (d?.version !== 1 || !d.initResult?.capabilities || !d.initResult.serverInfo || typeof d.lists !== 'object')
        throw new Error('not a snapshot of this version');
      if (d.command !== this.command) {
        this.log.info('the discovery snapshot is of another command line: not used until the server has started once');
        return undefined;
      }
      return d;
    } catch (err) {
      // A bad snapshot is only a cache: the next child start writes a good one.
      this.log.warn(`${file} could not be read (${(err as Error).message}); it is replaced when the server next starts`);
      return undefined;
    }
  }
}

async function readAll(upstream: Upstream, method: string, key: string): Promise<unknown[]> {
  const items: unknown[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const result = (await upstream.request(method, cursor ? { cursor } : undefined)) as Record<string, unknown>;
    const got = result?.[key];
    if (!Array.isArray(got)) throw new Error(`${method} returned no ${key} array`);
    items.push(...got);
    cursor = typeof result.nextCursor === 'string' && result.nextCursor ? result.nextCursor : undefined;
    if (!cursor) return items;
  }
  throw new Error(`${method} had more than ${MAX_PAGES} pages`);
}

/** Requests the bridge can answer without its child (see Router.needsChild). */
export interface LocalAnswers {
  /** Whether `answer` would answer this request now. */
  can(method: string, params: unknown): boolean;
  /** Answers the request; true if it did. */
  answer(peer: Peer, request: JSONRPCRequest): boolean;
}

/**
 * Wires a snapshot to the router of a global-mode bridge: answers list requests from it while the
 * child is not ready, puts its InitializeResult in place before any child ran, refreshes it on every
 * child start and tells clients what changed.
 */
export function attachSnapshot(snapshot: DiscoverySnapshot, router: Router, log: Logger): void {
  const { upstream } = router;
  if (!upstream.initResult && snapshot.initResult) upstream.initResult = snapshot.initResult;
  upstream.on('ready', ({ restart, woke }) => {
    void snapshot.refresh(upstream).then(
      (notes) => {
        // After a crash restart the router has announced every list already.
        if (restart && !woke) return;
        for (const method of notes) router.broadcast({ jsonrpc: '2.0', method });
      },
      (err: Error) => log.warn(`snapshot refresh failed: ${err.message}`),
    );
  });
  const usable = () => upstream.state !== 'failed' && upstream.state !== 'stopped';
  router.local = {
    can: (method, params) => usable() && snapshot.answer(method, params) !== undefined,
    answer(peer, request) {
      if (!usable()) return false;
      const result = snapshot.answer(request.method, request.params);
      if (!result) return false;
      let reply = { jsonrpc: '2.0', id: request.id, result } as JSONRPCMessage;
      if (peer.era === 'stateless') reply = router.stateless.decorate({ method: request.method }, reply);
      router.deliver(peer, reply, request.id);
      return true;
    },
  };
}
