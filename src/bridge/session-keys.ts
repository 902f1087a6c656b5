import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../util/log.js';

/** Which transport a session id was minted for: an id of one is never accepted by the other. */
export type SessionIdKind = 'streamable-http' | 'sse';

/** The fields of a session id the bridge can read back once its MAC checks out. */
export interface VerifiedId {
  kind: SessionIdKind;
  /** When the id was minted (ms since the epoch, second precision). */
  createdAt: number;
}

const KEY_FILE = 'session.key';
const KEY_BYTES = 32;
/** 128 bits of MAC: forging one takes 2^127 guesses on average. */
const MAC_BYTES = 16;
const RANDOM_BYTES = 16;
const KIND_TAG: Record<SessionIdKind, string> = { 'streamable-http': 'h', sse: 's' };
const ID_PATTERN = /^([0-9a-f]{32})\.([hs])([0-9a-z]{1,9})\.([A-Za-z0-9_-]{22})$/;

/**
 * Session ids the bridge can verify on its own, across its own restarts: `<random>.<kind><created>.<mac>`
 * (random first, so the short form in log lines tells sessions apart),
 * the MAC keyed by a secret that never leaves this machine's state directory and bound to the
 * server's name, so an id of one server is no id at another. A restarted bridge that holds no
 * session in memory still tells a genuine id (revive it) from a forged one (404).
 */
export class SessionKeys {
  private constructor(
    private readonly key: Buffer,
    private readonly scope: string,
  ) {}

  /** Keys from `<dir>/session.key`, created 0600 (in a 0700 directory) on first use. */
  static load(dir: string, scope: string, log?: Logger): SessionKeys {
    return new SessionKeys(loadOrCreateKey(dir, log), scope);
  }

  /** A key that lives only as long as this process (tests; a state directory that cannot be written). */
  static ephemeral(scope: string): SessionKeys {
    return new SessionKeys(randomBytes(KEY_BYTES), scope);
  }

  mint(kind: SessionIdKind, now = Date.now()): string {
    const created = Math.floor(now / 1000).toString(36);
    const random = randomBytes(RANDOM_BYTES).toString('hex');
    const head = `${random}.${KIND_TAG[kind]}${created}`;
    return `${head}.${this.mac(head)}`;
  }

  /** The id's fields when it is one this bridge minted for `kind`; undefined for anything else. */
  verify(id: string, kind: SessionIdKind): VerifiedId | undefined {
    const m = ID_PATTERN.exec(id);
    if (!m || m[2] !== KIND_TAG[kind]) return undefined;
    const head = `${m[1]}.${m[2]}${m[3]}`;
    // Compared as text, not as decoded bytes: base64url's last character carries spare bits, and
    // an id has exactly one accepted spelling.
    const expected = Buffer.from(this.mac(head));
    const given = Buffer.from(m[4]);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    return { kind, createdAt: parseInt(m[3], 36) * 1000 };
  }

  private mac(head: string): string {
    return createHmac('sha256', this.key).update(`mcpshare-session\n${this.scope}\n${head}`).digest().subarray(0, MAC_BYTES).toString('base64url');
  }
}

/** Makes `dir` (and its parents) with 0700, tightening it if it already exists looser. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mode = statSync(dir).mode & 0o777;
  if (mode !== 0o700) chmodSync(dir, 0o700);
}

function loadOrCreateKey(dir: string, log?: Logger): Buffer {
  ensurePrivateDir(dir);
  const path = join(dir, KEY_FILE);
  const existing = readKey(path, log);
  if (existing) return existing;
  // Written whole beside the target, then linked into place: link fails if another bridge won
  // the race, and then its key is read instead, so every bridge of this user shares one key.
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  writeFileSync(tmp, randomBytes(KEY_BYTES).toString('hex') + '\n', { mode: 0o600 });
  try {
    linkSync(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  const key = readKey(path, log);
  if (!key) throw new Error(`${path} could not be created as a session key`);
  return key;
}

function readKey(path: string, log?: Logger): Buffer | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  if (/^[0-9a-f]{64}\s*$/.test(text)) {
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    return Buffer.from(text.trim(), 'hex');
  }
  // Not a key this bridge wrote: kept aside (never deleted), and a new one is made. Sessions
  // minted under the old key get 404 and start again.
  const aside = `${path}.bad-${Date.now()}`;
  renameSync(path, aside);
  log?.warn(`${path} did not hold a session key; moved it to ${aside} and created a new key (open sessions will start again)`);
  return undefined;
}
