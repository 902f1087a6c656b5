import { readFileSync, rmSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { isMcpshareError } from '../errors.js';
import type { BackupStore, ApplyRecord, EntryChange, StoredRecord } from './backups.js';
import {
  configError,
  describeTarget,
  fileMeta,
  readConfigText,
  serversOf,
  shellWord,
  withTargetLock,
  writeConfigText,
  type ConfigScope,
  type ConfigTarget,
} from './claude-config.js';
import { sectionDiff } from './display.js';
import { applySplices, jsonEqual, locate, parseJson, removeMembers, renderValueAt, type Splice } from './json-text.js';

/**
 * `mcpshare revert`: undo the newest apply of a config that is not undone yet.
 *
 * Entry by entry, not by copying the old file back: Claude Code rewrites `~/.claude.json` all the
 * time, and a user may edit `.mcp.json` after apply, so only entries that still hold exactly what
 * apply wrote get their original value (and text) back; everything else stays as it is now. A
 * project's `.mcp.json` that no longer parses is replaced whole by the backup, after the corrupt one
 * is saved aside. A corrupt `~/.claude.json` (user or local scope) is never replaced: its backup
 * predates everything Claude Code saved since the apply (other projects, account data, other
 * scopes), so revert reports where it is broken and how to restore the backup by hand, and changes nothing.
 */
export type RevertEntryStatus =
  /** Back to what it was before apply. */
  | 'restored'
  /** An entry apply --add added, still as it wrote it: deleted again. */
  | 'deleted'
  /** Already holds its pre-apply value (for an added entry: it is gone already). */
  | 'already-original'
  /** Changed since apply (by the user or another tool): left as it is. */
  | 'changed-since'
  /** Removed since apply: left out. */
  | 'removed-since';

export interface RevertEntryOutcome {
  name: string;
  status: RevertEntryStatus;
}

export interface RevertReport {
  file: string;
  /** Which config (for `revert --all`, where one report stands for each config). */
  scope?: ConfigScope;
  /** Local scope: the project's key in ~/.claude.json. */
  projectKey?: string;
  /**
   * reverted: entry by entry; restored-backup: the whole file (a corrupt .mcp.json); corrupt: a
   * corrupt ~/.claude.json, left as it is; nothing: no apply to undo; missing-file: the config is
   * gone; error: `revert --all` could not revert this config (message says why).
   */
  result: 'reverted' | 'restored-backup' | 'corrupt' | 'nothing' | 'missing-file' | 'error';
  outcomes: RevertEntryOutcome[];
  /** How many applies this undid (`revert --all` undoes every one of a config; a plain revert one). */
  applies?: number;
  /** The full backup taken by the (oldest) apply being undone. */
  backup?: string;
  /** The apply being undone created the file (so its backup is empty). */
  created?: boolean;
  /** The apply had created the file and the revert left nothing else in it: the file was deleted (dry run: would be). */
  deletedFile?: boolean;
  /** Copy of the file as it was just before this revert (when it changed it). */
  savedBefore?: string;
  /** Where the corrupt file was saved before the backup replaced it. */
  corruptSavedAs?: string;
  /** corrupt: where the file stops being JSON. */
  position?: { line: number; column: number };
  /** corrupt: the command that puts the backup back by hand (for people who accept losing what changed since). */
  restoreCommand?: string;
  wrote: boolean;
  diff?: string;
  message: string;
  ok: boolean;
}

export interface RevertOptions {
  target: ConfigTarget;
  backups: BackupStore;
  dryRun?: boolean;
}

/** Per-entry decisions and the new text (pure). */
export function planRevert(text: string, section: readonly string[], changes: readonly EntryChange[]): { text: string; outcomes: RevertEntryOutcome[] } {
  const data = parseJson(text) as Record<string, unknown>;
  let servers: Record<string, unknown> | undefined = data;
  for (const key of section)
    servers = servers && typeof servers[key] === 'object' && servers[key] !== null ? (servers[key] as Record<string, unknown>) : undefined;
  const splices: Splice[] = [];
  const outcomes: RevertEntryOutcome[] = [];
  const deleting: string[] = [];
  for (const c of changes) {
    const has = !!servers && Object.prototype.hasOwnProperty.call(servers, c.name);
    const current = has ? servers![c.name] : undefined;
    if (c.added) {
      // There was no such entry before the apply: delete it if it still holds what apply wrote.
      if (!has) outcomes.push({ name: c.name, status: 'already-original' });
      else if (jsonEqual(current, c.after)) {
        deleting.push(c.name);
        outcomes.push({ name: c.name, status: 'deleted' });
      } else outcomes.push({ name: c.name, status: 'changed-since' });
    } else if (!has) outcomes.push({ name: c.name, status: 'removed-since' });
    else if (jsonEqual(current, c.after)) {
      const member = locate(text, [...section, c.name])!;
      // The original bytes when they still say the same thing; a re-rendering otherwise.
      const original = c.beforeText && parsesTo(c.beforeText, c.before) ? c.beforeText : renderValueAt(text, member, c.before);
      splices.push({ start: member.valueStart, end: member.valueEnd, text: original });
      outcomes.push({ name: c.name, status: 'restored' });
    } else if (jsonEqual(current, c.before)) outcomes.push({ name: c.name, status: 'already-original' });
    else outcomes.push({ name: c.name, status: 'changed-since' });
  }
  // A restored entry and a deleted one are never the same member: no two splices overlap.
  if (deleting.length) splices.push(...removeMembers(text, section, deleting)!);
  const out = applySplices(text, splices);
  const expected = structuredClone(data);
  let node: Record<string, unknown> | undefined = expected;
  for (const key of section) node = node?.[key] as Record<string, unknown> | undefined;
  for (const c of changes) {
    const o = outcomes.find((x) => x.name === c.name && (x.status === 'restored' || x.status === 'deleted'));
    if (!o || !node) continue;
    if (o.status === 'deleted') delete node[c.name];
    else node[c.name] = c.before;
  }
  if (!jsonEqual(parseJson(out), expected)) throw new Error('internal: the reverted config does not parse to the intended content; nothing was written');
  return { text: out, outcomes };
}

function parsesTo(text: string, value: unknown): boolean {
  try {
    return jsonEqual(JSON.parse(text), value);
  } catch {
    return false;
  }
}

/** `{"a": {"b": {}}}` for the section ['a', 'b']: all that is left of a config apply created once its entries are gone. */
function emptyNesting(section: readonly string[]): unknown {
  return section.reduceRight<unknown>((inner, key) => ({ [key]: inner }), {});
}

/** The config an apply record is about (scope inferred for records of older versions). */
export function targetOfRecord(record: ApplyRecord): ConfigTarget {
  const section = record.section ?? ['mcpServers'];
  const scope: ConfigScope =
    record.scope ?? (section.length === 3 && section[0] === 'projects' ? 'local' : basename(record.file) === '.mcp.json' ? 'project' : 'user');
  if (scope === 'project') return { scope, file: record.file, section, dir: record.dir ?? dirname(record.file), lock: false };
  if (scope === 'local') return { scope, file: record.file, section, dir: record.dir ?? section[1], projectKey: record.projectKey ?? section[1], lock: true };
  return { scope, file: record.file, section, lock: true };
}

export async function revertConfig(o: RevertOptions): Promise<RevertReport> {
  const { target, backups } = o;
  const file = target.file;
  // ~/.claude.json holds the user scope and each project's local scope: only this one's applies count.
  const stored = backups.latestUnreverted(file, target.section);
  if (!stored)
    return {
      file,
      scope: target.scope,
      projectKey: target.projectKey,
      result: 'nothing',
      outcomes: [],
      wrote: false,
      message: `nothing to revert: no apply of ${describeTarget(target)} is on record that is not reverted already`,
      ok: true,
    };
  return revertRecords(o, [stored]);
}

/**
 * `revert --all`: every apply on record that is not reverted yet, of every config and scope. One
 * report per config, the config whose apply is newest first; within a config its applies are undone
 * newest first, in one write. A config that cannot be reverted is reported (ok false) and the
 * others are still reverted.
 */
export async function revertAll(o: { backups: BackupStore; dryRun?: boolean }): Promise<RevertReport[]> {
  const groups = new Map<string, StoredRecord[]>();
  for (const stored of o.backups.allUnreverted()) {
    const key = JSON.stringify([stored.record.file, stored.record.section ?? ['mcpServers']]);
    groups.set(key, [...(groups.get(key) ?? []), stored]);
  }
  const reports: RevertReport[] = [];
  for (const records of groups.values()) {
    const target = targetOfRecord(records[0].record);
    try {
      reports.push(await revertRecords({ target, backups: o.backups, dryRun: o.dryRun }, records));
    } catch (err) {
      reports.push({
        file: target.file,
        scope: target.scope,
        projectKey: target.projectKey,
        result: 'error',
        outcomes: [],
        applies: records.length,
        wrote: false,
        message: (err as Error).message,
        ok: false,
      });
    }
  }
  return reports;
}

/** Undoes `records` (applies of the one config `o.target`, newest first) in one read-modify-write. */
async function revertRecords(o: RevertOptions, records: StoredRecord[]): Promise<RevertReport> {
  const { target, backups } = o;
  const file = target.file;
  const oldest = records[records.length - 1];
  const backup = oldest.record.backup;
  const created = oldest.record.created ? true : undefined;
  const base = { file, scope: target.scope, projectKey: target.projectKey, applies: records.length, backup, created };
  const markAll = () => records.forEach((r) => backups.markReverted(r));
  const run = (): RevertReport => {
    const text = readConfigText(file); // unreadable: throws, nothing is touched
    if (text === undefined) {
      if (created) {
        // The apply created it; it is gone again, as before the apply.
        if (!o.dryRun) markAll();
        return {
          ...base,
          result: 'reverted',
          outcomes: [],
          wrote: false,
          message: `${file} no longer exists, as before the apply that created it: nothing to do`,
          ok: true,
        };
      }
      return {
        ...base,
        result: 'missing-file',
        outcomes: [],
        wrote: false,
        message: `${file} no longer exists, so nothing was restored; the copy taken before the apply is ${backup}`,
        ok: false,
      };
    }
    try {
      serversOf(target, text);
    } catch (err) {
      if (isMcpshareError(err, 'config-corrupt'))
        return target.scope === 'project' ? restoreWhole(o, records, text, err) : refuseCorrupt(o, records, text, err);
      throw err; // valid JSON of the wrong shape: reported, never overwritten
    }
    let now = text;
    const outcomes: RevertEntryOutcome[] = [];
    for (const r of records) {
      const plan = planRevert(now, r.record.section ?? target.section, r.record.changes);
      now = plan.text;
      outcomes.push(...plan.outcomes);
    }
    // A file the apply created, left with nothing but the empty servers object: deleted, as before the apply.
    const deleteFile = !!created && jsonEqual(parseJson(now), emptyNesting(target.section));
    // A servers object (and the objects on its path) the apply created, left empty: removed again.
    const from = oldest.record.createdFrom;
    const pruned = !deleteFile && from !== undefined ? removeCreated(now, target.section, from) : now;
    const removedSection = pruned !== now;
    now = pruned;
    const changed = deleteFile || now !== text;
    if (o.dryRun) {
      // The servers object only, every entry's secrets hidden (a restored stdio entry brings its env back).
      const diff = sectionDiff(text, deleteFile ? '' : now, target.section, file, deleteFile ? '/dev/null' : `${file} (after mcpshare revert)`);
      return {
        ...base,
        result: 'reverted',
        outcomes,
        wrote: false,
        deletedFile: deleteFile || undefined,
        diff,
        message: summary(outcomes, false, deleteFile ? file : undefined, removedSection),
        ok: true,
      };
    }
    const savedBefore = changed ? backups.save(file, text, 'before-revert') : undefined;
    if (deleteFile) rmSync(file, { force: true });
    else if (changed) writeConfigText(fileMeta(file), now);
    markAll();
    return {
      ...base,
      result: 'reverted',
      outcomes,
      savedBefore,
      wrote: changed,
      deletedFile: deleteFile || undefined,
      message: summary(outcomes, true, deleteFile ? file : undefined, removedSection),
      ok: true,
    };
  };
  // Read, decide and write under Claude Code's lock, so none of its saves lands in between.
  return o.dryRun ? run() : withTargetLock(target, run);
}

/**
 * ~/.claude.json does not parse: change nothing. Its backup is from before the apply; putting it back
 * would silently undo everything Claude Code saved since, so that is the user's call, with the command.
 */
function refuseCorrupt(o: RevertOptions, records: StoredRecord[], corrupt: string, err: Error): RevertReport {
  const { target } = o;
  const stored = records[records.length - 1];
  const backup = stored.record.backup;
  const created = stored.record.created ? true : undefined;
  let position: { line: number; column: number } | undefined;
  let detail = err.message;
  try {
    parseJson(corrupt);
  } catch (e) {
    if (isMcpshareError(e, 'json-syntax')) {
      detail = e.message;
      const { line, column } = e.context;
      if (line !== undefined && column !== undefined) position = { line, column };
    }
  }
  // An apply that created the file has no backup to put back: the file did not exist.
  const restoreCommand = created ? undefined : `cp ${shellWord(backup)} ${shellWord(target.file)}`;
  const where = position ? ` at line ${position.line}, column ${position.column}` : '';
  return {
    file: target.file,
    scope: target.scope,
    projectKey: target.projectKey,
    result: 'corrupt',
    outcomes: [],
    applies: records.length,
    backup,
    created,
    position,
    restoreCommand,
    wrote: false,
    message: restoreCommand
      ? `${target.file} is not valid JSON${where} (${detail}); revert changed nothing. ` +
        `Restoring the whole backup taken before the apply (${stored.record.at}) would also undo everything Claude Code saved in it since: other projects, account data, the other scopes. ` +
        `Fix the file by hand${where}, then run revert again; or, to put the backup back as it was, accepting that loss: ${restoreCommand}`
      : `${target.file} is not valid JSON${where} (${detail}); revert changed nothing. The apply (${stored.record.at}) created the file, so there is no earlier copy to put back: fix it by hand${where}, then run revert again`,
    ok: false,
  };
}

/**
 * A project's .mcp.json does not parse: save it aside, put the backup from before the (oldest)
 * apply back whole; or, when that apply created the file, delete it.
 */
function restoreWhole(o: RevertOptions, records: StoredRecord[], corrupt: string, err: Error): RevertReport {
  const { target, backups } = o;
  const stored = records[records.length - 1];
  const backup = stored.record.backup;
  const created = stored.record.created ? true : undefined;
  let original = '';
  if (!created) {
    try {
      original = readFileSync(backup, 'utf8');
    } catch {
      throw configError(`${err.message}. Its backup ${backup} cannot be read either, so nothing was restored`, target.file, 'corrupt', err);
    }
  }
  const outcomes = records.flatMap((r) => r.record.changes.map((c): RevertEntryOutcome => ({ name: c.name, status: c.added ? 'deleted' : 'restored' })));
  const why = `${target.file} is not valid JSON (${err.message.replace(/^.*?not valid JSON: /, '').replace(/; it was left untouched.*$/, '')})`;
  const base = {
    file: target.file,
    scope: target.scope,
    result: 'restored-backup' as const,
    outcomes,
    applies: records.length,
    backup,
    created,
    deletedFile: created,
  };
  if (o.dryRun) {
    return {
      ...base,
      wrote: false,
      message: `${why}: revert would save it aside and ${created ? 'delete it (the apply created it)' : `restore the whole backup ${backup}`}`,
      ok: true,
    };
  }
  const corruptSavedAs = backups.save(target.file, corrupt, 'corrupt');
  if (created) rmSync(target.file, { force: true });
  else writeConfigText(fileMeta(target.file), original);
  records.forEach((r) => backups.markReverted(r));
  return {
    ...base,
    corruptSavedAs,
    wrote: true,
    message: created
      ? `${why}: saved it as ${corruptSavedAs} and deleted it, as before the apply that created it (changes made to the file since the apply are in the saved copy)`
      : `${why}: saved it as ${corruptSavedAs} and restored the whole backup ${backup} (changes made to the file since the apply are in the saved copy)`,
    ok: true,
  };
}

/**
 * The text without the objects apply --add created on the section's path (from `section[from]`
 * down), as far as they hold nothing else now: the highest such object that is empty but for the
 * nesting goes (what Claude Code added to it since, say a project's history, keeps it).
 */
function removeCreated(text: string, section: readonly string[], from: number): string {
  let node: unknown = parseJson(text);
  for (const key of section.slice(0, from)) node = (node as Record<string, unknown> | undefined)?.[key];
  for (let i = from; i < section.length; i++) {
    if (typeof node !== 'object' || node === null || !Object.prototype.hasOwnProperty.call(node, section[i])) return text;
    node = (node as Record<string, unknown>)[section[i]];
    if (jsonEqual(node, emptyNesting(section.slice(i + 1)))) return applySplices(text, removeMembers(text, section.slice(0, i), [section[i]]) ?? []);
  }
  return text;
}

function summary(outcomes: RevertEntryOutcome[], done: boolean, deletedFile?: string, removedSection?: boolean): string {
  const n = outcomes.filter((x) => x.status === 'restored').length;
  const d = outcomes.filter((x) => x.status === 'deleted').length;
  const parts = [
    n ? `${done ? 'restored' : 'would restore'} ${n === 1 ? '1 entry to what it was' : `${n} entries to what they were`} before the apply` : '',
    d ? `${done ? 'deleted' : 'would delete'} ${d === 1 ? '1 entry' : `${d} entries`} the apply added` : '',
    deletedFile ? `${done ? 'deleted' : 'would delete'} ${deletedFile}, which the apply created and which holds nothing else` : '',
    removedSection ? `${done ? 'removed' : 'would remove'} the empty servers object the apply created` : '',
  ].filter(Boolean);
  return parts.length ? parts.join('; ') : `no entry still holds what the apply wrote: nothing ${done ? 'was changed' : 'would change'}`;
}
