import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import type { ConfigScope } from './claude-config.js';

/**
 * Backups of client configs and the record of what each apply changed, under
 * `~/.local/state/mcpshare/backups/<file-slug>/` (directories 0700, files 0600: `~/.claude.json`
 * holds OAuth tokens and `.mcp.json` entries may hold API keys, so no copy may be readable by others).
 *
 * Per config file, newest last (names sort by time):
 *   STAMP.json          the whole file as it was before the change (a full, timestamped backup)
 *   STAMP.apply.json    ApplyRecord: the entries that apply changed, before and after
 *   STAMP.corrupt.json  a corrupt file that revert replaced with a backup
 * Revert works from the records (entry by entry), so it can undo an apply on a file that changed since.
 */
export interface EntryChange {
  name: string;
  /**
   * The entry before apply (parsed), and its exact text, so revert restores it byte for byte.
   * Absent for an entry apply added (`added`).
   */
  before?: unknown;
  beforeText?: string;
  /** What apply wrote. Revert restores `before` (or deletes an added entry) only where the entry still equals this. */
  after: unknown;
  /** apply --add: there was no entry of this name; revert deletes it again. */
  added?: boolean;
}

export interface ApplyRecord {
  version: 1;
  /** The config file (as named to people, not resolved through symlinks). */
  file: string;
  /**
   * Keys from the root to the servers object this apply changed (absent in records of older
   * versions: ["mcpServers"]). ~/.claude.json holds the user scope and every project's local scope:
   * each is reverted on its own.
   */
  section?: string[];
  /**
   * Which config (absent in records of older versions: then inferred from file and section), and
   * for project and local scope the project's directory, for `revert --all`.
   */
  scope?: ConfigScope;
  dir?: string;
  projectKey?: string;
  at: string;
  /** The full backup taken before this apply (an empty file when the apply created the config). */
  backup: string;
  /** apply --add created the file: a revert that leaves nothing but the empty servers object deletes it. */
  created?: boolean;
  /**
   * apply --add created the servers object, from `section[createdFrom]` down (the first key that
   * was missing on its path): a revert that leaves it empty removes what it created.
   */
  createdFrom?: number;
  changes: EntryChange[];
  /** Set once reverted: revert undoes the newest record that has none. */
  revertedAt?: string;
}

export interface StoredRecord {
  path: string;
  record: ApplyRecord;
}

const KEEP = 20;
const DEFAULT_SECTION = ['mcpServers'];
const sameSection = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((k, i) => k === b[i]);

export class BackupStore {
  constructor(readonly root: string) {}

  /** The state directory's backups (`userPaths(env).stateDir`). */
  static under(stateDir: string): BackupStore {
    return new BackupStore(join(stateDir, 'backups'));
  }

  /** One directory per config file: a readable tail of its path plus a hash (two files never share one). */
  dirFor(file: string): string {
    const hash = createHash('sha256').update(file).digest('hex').slice(0, 12);
    const tail = file
      .replace(/[^A-Za-z0-9._-]+/g, '_')
      .replace(/^_+/, '')
      .slice(-60);
    return join(this.root, `${tail}-${hash}`);
  }

  /** Saves `text` as `STAMP.<kind>.json` (or STAMP.json for a full backup) and returns its path. */
  save(file: string, text: string, kind: 'backup' | 'corrupt' | 'before-revert', at = new Date()): string {
    const dir = this.ensureDir(file);
    const suffix = kind === 'backup' ? '.json' : `.${kind}.json`;
    const path = uniquePath(dir, stamp(at), suffix);
    writeFileAtomic(path, text, 0o600);
    chmodSync(path, 0o600);
    return path;
  }

  /** Writes the record of an apply next to its backup (`STAMP.json` → `STAMP.apply.json`). */
  writeRecord(record: ApplyRecord): string {
    const path = record.backup.replace(/\.json$/, '.apply.json');
    this.ensureDir(record.file);
    writeFileAtomic(path, JSON.stringify(record, null, 2) + '\n', 0o600);
    chmodSync(path, 0o600);
    return path;
  }

  removeRecord(path: string): void {
    rmSync(path, { force: true });
  }

  markReverted(stored: StoredRecord, at = new Date()): void {
    const record: ApplyRecord = { ...stored.record, revertedAt: at.toISOString() };
    writeFileAtomic(stored.path, JSON.stringify(record, null, 2) + '\n', 0o600);
  }

  /**
   * The newest apply of this file's `section` not yet reverted. A record that cannot be read is
   * skipped, not fatal.
   */
  latestUnreverted(file: string, section: readonly string[] = DEFAULT_SECTION): StoredRecord | undefined {
    for (const path of this.records(file).reverse()) {
      try {
        const record = JSON.parse(readFileSync(path, 'utf8')) as ApplyRecord;
        if (record.version === 1 && !record.revertedAt && Array.isArray(record.changes) && sameSection(record.section ?? DEFAULT_SECTION, section))
          return { path, record };
      } catch {
        // a damaged record cannot be used for revert; its full backup is still there
      }
    }
    return undefined;
  }

  /**
   * Every apply on record that is not reverted yet, of every config, newest first (for `revert
   * --all`). Records that cannot be read are skipped, as in latestUnreverted().
   */
  allUnreverted(): StoredRecord[] {
    if (!existsSync(this.root)) return [];
    const found: StoredRecord[] = [];
    for (const dir of readdirSync(this.root, { withFileTypes: true })) {
      if (!dir.isDirectory()) continue;
      for (const name of readdirSync(join(this.root, dir.name))) {
        if (!name.endsWith('.apply.json')) continue;
        const path = join(this.root, dir.name, name);
        try {
          const record = JSON.parse(readFileSync(path, 'utf8')) as ApplyRecord;
          if (record.version === 1 && !record.revertedAt && Array.isArray(record.changes) && typeof record.file === 'string') found.push({ path, record });
        } catch {
          // as in latestUnreverted()
        }
      }
    }
    // Newest first: by the apply's time, then by the record's name (STAMP_002 after STAMP within one millisecond).
    return found.sort((a, b) => (b.record.at ?? '').localeCompare(a.record.at ?? '') || basenameStamp(b.path).localeCompare(basenameStamp(a.path)));
  }

  /** Keeps the newest KEEP applies of the file, all scopes together (and everything of the same moment or newer); older files are deleted. */
  prune(file: string, keep = KEEP): void {
    const dir = this.dirFor(file);
    const records = this.records(file);
    if (records.length <= keep) return;
    const oldestKept = basenameStamp(records[records.length - keep]);
    for (const name of readdirSync(dir)) if (basenameStamp(name) < oldestKept) rmSync(join(dir, name), { force: true });
  }

  private records(file: string): string[] {
    const dir = this.dirFor(file);
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((n) => n.endsWith('.apply.json'))
      .sort()
      .map((n) => join(dir, n));
  }

  private ensureDir(file: string): string {
    const dir = this.dirFor(file);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // mkdir's mode is masked and does not touch existing directories: make sure of both levels.
    chmodSync(this.root, 0o700);
    chmodSync(dir, 0o700);
    return dir;
  }
}

/** 2026-03-01T12-00-00-123Z: sortable, no ':' (which some filesystems and tools dislike). */
function stamp(at: Date): string {
  return at.toISOString().replace(/[:.]/g, '-');
}

function basenameStamp(pathOrName: string): string {
  const name = pathOrName.split('/').pop()!;
  return name.replace(/(\.[a-z-]+)?\.json$/, '');
}

/** STAMP.json, or STAMP_002.json, … when two changes land within the same millisecond ('_' sorts after '.'). */
function uniquePath(dir: string, base: string, suffix: string): string {
  const taken = (b: string) => readdirSync(dir).some((n) => n.startsWith(`${b}.`));
  let name = base;
  for (let i = 2; taken(name); i++) name = `${base}_${String(i).padStart(3, '0')}`;
  return join(dir, `${name}${suffix}`);
}
