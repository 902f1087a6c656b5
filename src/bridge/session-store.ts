import { existsSync, readFileSync, renameSync } from 'node:fs';
import type { ClientCapabilities, Implementation, LoggingLevel } from '@modelcontextprotocol/sdk/types.js';
import { writeFileAtomic } from '../util/atomic.js';
import type { Logger } from '../util/log.js';
import type { SessionIdKind } from './session-keys.js';

/** What a 2025 session negotiated: everything needed to serve it again after a bridge restart. */
export interface SessionRecord {
  kind: SessionIdKind;
  protocolVersion?: string;
  clientInfo?: Implementation;
  capabilities?: ClientCapabilities;
  logLevel?: LoggingLevel;
  subscriptions?: string[];
  /** When its id was minted (ms). */
  createdAt: number;
  /** Its last request or open stream, to within SEEN_GRANULARITY_MS (ms). */
  lastSeen: number;
}

export interface SessionStoreOptions {
  /** The JSON file; undefined keeps records in memory only (a bridge on a random port). */
  file?: string;
  /** A session unseen this long is forgotten for good: its id then gets 404. */
  ttlMs: number;
  /** Changes are written at most this often, together (never one write per request). */
  flushDelayMs?: number;
}

interface FileShape {
  version: 1;
  /**
   * Every session minted before this time that is not in `sessions` was deleted or expired. One
   * minted later may be missing only because the bridge died before writing it: that one is revived
   * with defaults rather than refused.
   */
  coveredUntil: number;
  sessions: Record<string, SessionRecord>;
  /** Ids ended (DELETE, expiry) that coverage does not reach yet: refused after a restart too. */
  ended?: Record<string, number>;
  /**
   * Spans of mint times coverage passed over without accounting for them: from the coverage a bridge
   * found on disk to when it started. The bridge before it may have minted ids then and died before
   * writing them, so those ids are still served (with defaults) until they expire.
   */
  gaps?: Array<[number, number]>;
  /** When this file was written: everything minted before then is in it, ended, or a health probe's. */
  writtenAt?: number;
}

/** lastSeen moves only in steps this large, so a busy session causes no writes of its own. */
const SEEN_GRANULARITY_MS = 60 * 60 * 1000;
/** A minted id whose initialize never finished is not waited for longer than this. */
const PENDING_LIMIT_MS = 10 * 60 * 1000;

export type Lookup = { found: SessionRecord } | { unrecorded: true } | { gone: true };

/**
 * The sessions a bridge has served, kept in one small file per bridge and written atomically, in
 * batches. Records outlive the sessions' presence in memory: an idle session is dropped from memory
 * and revived from here when its client comes back, after any number of bridge restarts.
 */
export class SessionStore {
  private readonly records = new Map<string, SessionRecord>();
  /** Ids handed out whose initialize is still being answered (not recorded yet). */
  private readonly pending = new Map<string, number>();
  /** Ids ended (DELETE, expiry) since the last write: refused even before coverage reaches them. */
  private readonly ended = new Map<string, number>();
  private coveredUntil = 0;
  private gaps: Array<[number, number]> = [];
  /** The sessions as last written (a write that would change nothing is skipped). */
  private written?: string;
  private dirty = false;
  private timer?: NodeJS.Timeout;
  private readonly flushDelayMs: number;

  constructor(
    private readonly opts: SessionStoreOptions,
    private readonly log: Logger,
  ) {
    this.flushDelayMs = opts.flushDelayMs ?? 1000;
    if (opts.file) this.load(opts.file);
  }

  get size(): number {
    return this.records.size;
  }

  get persistent(): boolean {
    return this.opts.file !== undefined;
  }

  /** An id was minted and its initialize is being answered. */
  minted(id: string, createdAt: number): void {
    this.pending.set(id, createdAt);
  }

  /** When a pending id was minted. */
  mintedAt(id: string): number | undefined {
    return this.pending.get(id);
  }

  /** Whether an id that verified is still a session: its record, or why not. */
  lookup(id: string, createdAt: number, now = Date.now()): Lookup {
    const found = this.records.get(id);
    if (found) {
      if (now - found.lastSeen > this.opts.ttlMs) {
        this.forget(id);
        return { gone: true };
      }
      return { found };
    }
    // Kept in memory only: every session of this process is in `records` until it ends.
    if (!this.opts.file) return { gone: true };
    // In the file's coverage and not in it: deleted (DELETE) or expired. Later: the bridge died
    // between minting it and writing it down; the client cannot know, so it is served.
    if ((createdAt < this.coveredUntil && !this.inGap(createdAt)) || this.pending.has(id) || this.ended.has(id)) return { gone: true };
    if (now - createdAt > this.opts.ttlMs) return { gone: true };
    return { unrecorded: true };
  }

  /** Whether a mint time (second precision) falls where an earlier bridge may have left ids unwritten. */
  private inGap(createdAt: number): boolean {
    return this.gaps.some(([from, to]) => createdAt >= from - 1000 && createdAt <= to);
  }

  /** Records (or updates) a session's negotiated state. */
  save(id: string, record: Omit<SessionRecord, 'lastSeen'> & { lastSeen?: number }): void {
    this.pending.delete(id);
    this.records.set(id, { ...record, lastSeen: record.lastSeen ?? Date.now() });
    this.touchFile();
  }

  /** The session was active at `when`; written only when that moves lastSeen by a whole step. */
  seen(id: string, when = Date.now()): void {
    const r = this.records.get(id);
    if (!r || when - r.lastSeen < Math.min(SEEN_GRANULARITY_MS, this.opts.ttlMs / 10)) return;
    r.lastSeen = when;
    this.touchFile();
  }

  get(id: string): SessionRecord | undefined {
    return this.records.get(id);
  }

  /** The session ended for good (DELETE): its id gets 404 from now on. */
  forget(id: string): void {
    const record = this.records.get(id);
    const createdAt = record?.createdAt ?? this.pending.get(id);
    this.pending.delete(id);
    if (createdAt !== undefined && this.opts.file) this.ended.set(id, createdAt);
    if (this.records.delete(id)) this.touchFile();
  }

  /** Writes pending changes now (shutdown). */
  flush(now = Date.now()): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.expire(now);
    if (!this.opts.file) return;
    let covered = now;
    for (const [id, createdAt] of this.pending) {
      if (now - createdAt > PENDING_LIMIT_MS) this.pending.delete(id);
      else covered = Math.min(covered, createdAt);
    }
    // Coverage never moves back: ids minted before it were accounted for by an earlier write.
    this.coveredUntil = Math.max(this.coveredUntil, covered - 1000);
    for (const [id, createdAt] of this.ended) if (createdAt < this.coveredUntil && !this.inGap(createdAt)) this.ended.delete(id);
    // Only ids that reached the disk need a tombstone there. One that came and went between two
    // writes (a health probe) costs no write: after a restart, at worst its own client could
    // resume it with defaults, which is harmless.
    const endedOnDisk = [...this.ended].filter(([id]) => this.written?.includes(`"${id}"`));
    const sessions = `"sessions":${JSON.stringify(Object.fromEntries(this.records))},"ended":${JSON.stringify(Object.fromEntries(endedOnDisk))},"gaps":${JSON.stringify(this.gaps)}`;
    // Nothing changed on disk (a session that came and went between two writes): no write.
    if (sessions === this.written) {
      this.dirty = false;
      return;
    }
    try {
      writeFileAtomic(this.opts.file, `{"version":1,"coveredUntil":${this.coveredUntil},"writtenAt":${now},${sessions}}`, 0o600);
      this.written = sessions;
      this.dirty = false;
    } catch (err) {
      this.log.warn(`could not save sessions to ${this.opts.file}: ${(err as Error).message}; they live on in memory`);
    }
  }

  /** Forgets the sessions unseen for longer than the TTL. */
  expire(now = Date.now()): void {
    for (const [id, r] of this.records) if (now - r.lastSeen > this.opts.ttlMs) this.forget(id);
    // Ids minted in a gap expire like any others: the gap goes with them.
    const gaps = this.gaps.filter(([, to]) => now - to <= this.opts.ttlMs);
    if (gaps.length !== this.gaps.length) {
      this.gaps = gaps;
      this.touchFile();
    }
  }

  close(): void {
    if (this.dirty) this.flush();
    if (this.timer) clearTimeout(this.timer);
  }

  private touchFile(): void {
    this.dirty = true;
    if (!this.opts.file || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.dirty) this.flush();
    }, this.flushDelayMs);
    this.timer.unref();
  }

  private load(file: string): void {
    if (!existsSync(file)) return;
    let body: Partial<FileShape>;
    try {
      const text = readFileSync(file, 'utf8');
      body = JSON.parse(text) as Partial<FileShape>;
      this.written = text; // what is on disk: its ids keep their tombstones when they end
      if (!body || typeof body !== 'object' || body.version !== 1 || typeof body.sessions !== 'object' || body.sessions === null) {
        throw new Error('not a session file of this version');
      }
    } catch (err) {
      // Kept aside for a person to look at; the bridge starts with no sessions (their clients
      // get 404 and initialize again), which loses nothing the server holds.
      const aside = `${file}.bad-${Date.now()}`;
      try {
        renameSync(file, aside);
      } catch {
        // left where it is; overwritten by the next write
      }
      this.log.warn(`${file} could not be read (${(err as Error).message}); moved to ${aside}, starting with no saved sessions`);
      return;
    }
    this.coveredUntil = typeof body.coveredUntil === 'number' ? body.coveredUntil : 0;
    if (Array.isArray(body.gaps)) {
      this.gaps = body.gaps.filter((g): g is [number, number] => Array.isArray(g) && typeof g[0] === 'number' && typeof g[1] === 'number');
    }
    // This process accounts for what it mints from now on; what the last one minted after its last
    // write is unknown, and this process's writes will move coverage past it: keep it a gap. (Ids
    // minted before that write and not in the file ended: they stay refused.)
    const started = Date.now();
    const from = typeof body.writtenAt === 'number' ? body.writtenAt : this.coveredUntil;
    if (from > 0 && from < started) this.gaps.push([from, started]);
    for (const [id, createdAt] of Object.entries(body.ended ?? {})) if (typeof createdAt === 'number') this.ended.set(id, createdAt);
    for (const [id, r] of Object.entries(body.sessions ?? {})) {
      if (
        r &&
        typeof r === 'object' &&
        (r.kind === 'streamable-http' || r.kind === 'sse') &&
        typeof r.createdAt === 'number' &&
        typeof r.lastSeen === 'number'
      ) {
        this.records.set(id, r);
      }
    }
    this.log.info(`${this.records.size} saved session(s) can be resumed`);
  }
}
