import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BackupStore, type StoredRecord } from '../backups.js';
import type { ClientConfig, ClientName, ConfigFormat } from './types.js';

/**
 * What an apply changed in another client's config, and the full copy taken before it: the same
 * store as Claude Code's (0700 directories, 0600 files, the newest 20 per file) under its own root,
 * `~/.local/state/mcpshare/client-backups/`, so that `mcpshare revert --all` (Claude Code's configs)
 * never meets a record it cannot read. `revert --all-clients` and the tray read both.
 */
export interface ClientChange {
  name: string;
  /** The entry before (absent for one apply added), and for JSON its exact text. */
  before?: unknown;
  beforeText?: string;
  after: unknown;
  added?: boolean;
}

export interface ClientRecord {
  version: 1;
  client: ClientName;
  file: string;
  section: string[];
  scope: ClientConfig['scope'];
  format: ConfigFormat;
  dir?: string;
  at: string;
  /** Full copy before the apply ('' when the apply created the file). */
  backup: string;
  created?: boolean;
  /** sha256 of the text apply wrote: when the file still hashes to it, revert puts the backup back byte for byte. */
  afterHash: string;
  changes: ClientChange[];
  revertedAt?: string;
}

export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

export function clientStore(stateDir: string): BackupStore {
  return new BackupStore(join(stateDir, 'client-backups'));
}

/** The applies of `config` not reverted yet, newest first. */
export function unreverted(store: BackupStore, config: Pick<ClientConfig, 'file' | 'section'>): { path: string; record: ClientRecord }[] {
  return store
    .allUnreverted()
    .filter((s) => s.record.file === config.file && JSON.stringify(s.record.section) === JSON.stringify(config.section))
    .map((s) => ({ path: s.path, record: s.record as unknown as ClientRecord }));
}

/** Every client apply not reverted yet, of every client and file, newest first. */
export function allClientRecords(stateDir: string): { path: string; record: ClientRecord }[] {
  return clientStore(stateDir)
    .allUnreverted()
    .filter((s: StoredRecord) => typeof (s.record as unknown as ClientRecord).client === 'string')
    .map((s) => ({ path: s.path, record: s.record as unknown as ClientRecord }));
}

export function readBackup(path: string): string {
  return readFileSync(path, 'utf8');
}
