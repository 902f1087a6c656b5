/**
 * The parts behind sessions that outlive the bridge, on their own: verifiable session ids
 * (session-keys.ts) and the session records (session-store.ts), with real files in a temporary
 * directory. What a restarted bridge decides for an id: resume it, resume it with defaults, or 404.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SessionKeys } from '../src/bridge/session-keys.js';
import { SessionStore } from '../src/bridge/session-store.js';
import { createLogger } from '../src/util/log.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'mcpshare-sessions-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const lines: string[] = [];
const log = createLogger('test', { write: (l) => void lines.push(l) });
const DAY = 24 * 3600 * 1000;

describe('session ids', () => {
  test('minted ids verify; a changed character, another kind, another server or another key do not', () => {
    const dir = join(tmp(), 'state');
    const keys = SessionKeys.load(dir, 'memory');
    const id = keys.mint('streamable-http', Date.UTC(2026, 0, 1, 12, 0, 30, 500));
    expect(id).toMatch(/^[0-9a-f]{32}\.h[0-9a-z]+\.[A-Za-z0-9_-]{22}$/);
    expect(keys.verify(id, 'streamable-http')).toEqual({ kind: 'streamable-http', createdAt: Date.UTC(2026, 0, 1, 12, 0, 30) });
    expect(keys.verify(id, 'sse')).toBeUndefined();
    // Any other spelling of the MAC is refused, even one that decodes to the same bytes (the last
    // base64url character carries spare bits).
    for (const c of 'ABCDEFGHIJKLMNOP') {
      const other = id.slice(0, -1) + c;
      if (other !== id) expect(keys.verify(other, 'streamable-http')).toBeUndefined();
    }
    expect(keys.verify(`f${id.slice(1)}` === id ? `e${id.slice(1)}` : `f${id.slice(1)}`, 'streamable-http')).toBeUndefined();
    expect(SessionKeys.load(dir, 'other-server').verify(id, 'streamable-http')).toBeUndefined();
    expect(SessionKeys.ephemeral('memory').verify(id, 'streamable-http')).toBeUndefined();
    for (const junk of ['', 'x', id + 'x', id.replace('.', '..'), '../../etc/passwd']) expect(keys.verify(junk, 'streamable-http')).toBeUndefined();
    // The same key is read back by the next process.
    expect(SessionKeys.load(dir, 'memory').verify(id, 'streamable-http')).toBeDefined();
  });

  test('the key file is 0600 in a 0700 directory, tightened if looser; a file that is no key is moved aside, never deleted', () => {
    const dir = join(tmp(), 'state');
    mkdirSync(dir, { mode: 0o755 });
    SessionKeys.load(dir, 'x');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'session.key')).mode & 0o777).toBe(0o600);
    chmodSync(join(dir, 'session.key'), 0o644);
    SessionKeys.load(dir, 'x');
    expect(statSync(join(dir, 'session.key')).mode & 0o777).toBe(0o600);
    writeFileSync(join(dir, 'session.key'), 'not a key\n');
    SessionKeys.load(dir, 'x', log);
    expect(readdirSync(dir).filter((f) => f.startsWith('session.key.bad-'))).toHaveLength(1);
    expect(readFileSync(join(dir, 'session.key'), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(lines.join('\n')).toMatch(/did not hold a session key; moved it to .*session\.key\.bad-\d+/);
  });
});

describe('session records', () => {
  const record = (createdAt: number) => ({
    kind: 'streamable-http' as const,
    protocolVersion: '2025-11-25',
    capabilities: { roots: {} },
    clientInfo: { name: 'c', version: '1' },
    createdAt,
  });

  test('recorded, reloaded by the next process; deleted ids stay refused across a reload; an id minted after the last write is resumed with defaults; expired ones are gone', () => {
    const file = join(tmp(), 'sessions.json');
    const t0 = Date.now();
    const a = new SessionStore({ file, ttlMs: DAY }, log);
    a.minted('kept', t0);
    a.save('kept', record(t0));
    a.minted('deleted', t0);
    a.save('deleted', record(t0));
    a.flush(t0 + 2000);
    a.forget('deleted');
    expect(a.lookup('deleted', t0)).toEqual({ gone: true });
    a.flush(t0 + 2500);
    // Written, then deleted before the coverage of any write reaches it: its tombstone is written.
    a.minted('deleted-late', t0 + 2400);
    a.save('deleted-late', record(t0 + 2400));
    a.flush(t0 + 2450);
    a.forget('deleted-late');
    a.flush(t0 + 2500);
    expect(JSON.parse(readFileSync(file, 'utf8')).ended).toEqual({ 'deleted-late': t0 + 2400 });
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const b = new SessionStore({ file, ttlMs: DAY }, log);
    expect(b.lookup('kept', t0, t0 + 3000)).toEqual({ found: expect.objectContaining({ clientInfo: { name: 'c', version: '1' } }) });
    expect(b.lookup('deleted', t0, t0 + 3000)).toEqual({ gone: true });
    expect(b.lookup('deleted-late', t0 + 2400, t0 + 3000)).toEqual({ gone: true });
    // Minted by the last process after its last write (its record was lost with it): resumed.
    expect(b.lookup('lost', t0 + 10_000, t0 + 11_000)).toEqual({ unrecorded: true });
    // Minted before the last write's coverage and not in the file: it ended.
    expect(b.lookup('old', t0 - 60_000, t0 + 11_000)).toEqual({ gone: true });
    // Unseen for longer than the TTL.
    expect(b.lookup('kept', t0, t0 + DAY + 10_000)).toEqual({ gone: true });
  });

  test('an id the last process minted and never wrote is still resumed after the next process has written the file', () => {
    const file = join(tmp(), 'sessions.json');
    const t0 = Date.now() - 60_000;
    const a = new SessionStore({ file, ttlMs: DAY }, log);
    a.minted('kept', t0);
    a.save('kept', record(t0));
    a.flush(t0 + 2000);
    // 'lost' is minted at t0 + 30 s; the process is killed before its next write.
    const b = new SessionStore({ file, ttlMs: DAY }, log);
    const now = Date.now();
    b.minted('new', now);
    b.save('new', record(now));
    b.flush(now + 2000); // its coverage now reaches past 'lost'
    expect(b.lookup('lost', t0 + 30_000)).toEqual({ unrecorded: true });
    const c = new SessionStore({ file, ttlMs: DAY }, log);
    expect(c.lookup('lost', t0 + 30_000)).toEqual({ unrecorded: true });
    expect(c.lookup('new', now)).toEqual({ found: expect.objectContaining({ createdAt: now }) });
    // Before the first write's coverage and not in the file: it ended, whatever came after.
    expect(c.lookup('old', t0 - 60_000)).toEqual({ gone: true });
    // The gap goes once the ids in it have expired.
    c.expire(now + DAY + 60_000);
    c.flush(now + DAY + 60_000);
    expect(JSON.parse(readFileSync(file, 'utf8')).gaps).toEqual([]);
  });

  test('a session that comes and goes between two writes (a health probe) causes no write', () => {
    const file = join(tmp(), 'sessions.json');
    const s = new SessionStore({ file, ttlMs: DAY }, log);
    const t0 = Date.now();
    s.save('long-lived', record(t0));
    s.flush(t0 + 1000);
    const before = statSync(file).mtimeMs;
    const content = readFileSync(file, 'utf8');
    s.minted('probe', t0 + 5000);
    s.save('probe', record(t0 + 5000));
    s.forget('probe');
    s.flush(t0 + 6000);
    expect(readFileSync(file, 'utf8')).toBe(content);
    expect(statSync(file).mtimeMs).toBe(before);
    // …and the probe's id is still refused in this process.
    expect(s.lookup('probe', t0 + 5000, t0 + 7000)).toEqual({ gone: true });
  });

  test('a file that is not a session file is moved aside (kept for a person) and the bridge starts with no sessions', () => {
    const dir = tmp();
    const file = join(dir, 'sessions.json');
    writeFileSync(file, '{"version": 1, "sessions": ');
    const s = new SessionStore({ file, ttlMs: DAY }, log);
    expect(s.size).toBe(0);
    expect(existsSync(file)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('sessions.json.bad-'))).toHaveLength(1);
    expect(lines.join('\n')).toMatch(/sessions\.json could not be read .* moved to .*starting with no saved sessions/);
  });

  test('in memory only (a bridge on a random port): an id not in memory is no session', () => {
    const s = new SessionStore({ ttlMs: DAY }, log);
    const t0 = Date.now();
    s.save('a', record(t0));
    expect(s.lookup('a', t0)).toEqual({ found: expect.anything() });
    expect(s.lookup('b', t0 + 60_000)).toEqual({ gone: true });
    s.forget('a');
    expect(s.lookup('a', t0)).toEqual({ gone: true });
  });
});
