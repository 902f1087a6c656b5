import { readFileSync } from 'node:fs';
import { BackupStore, type EntryChange, type StoredRecord } from './backups.js';
import { ConfigError, describeTarget, fileMeta, readConfigText, serversOf, shellWord, withTargetLock, writeConfigText, type ConfigTarget } from './claude-config.js';
import { sectionDiff } from './display.js';
import { applySplices, JsonSyntaxError, jsonEqual, locate, parseJson, renderValueAt, type Splice } from './json-text.js';

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
  /** Already holds its pre-apply value. */
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
  /**
   * reverted: entry by entry; restored-backup: the whole file (a corrupt .mcp.json); corrupt: a
   * corrupt ~/.claude.json, left as it is; nothing: no apply to undo; missing-file: the config is gone.
   */
  result: 'reverted' | 'restored-backup' | 'corrupt' | 'nothing' | 'missing-file';
  outcomes: RevertEntryOutcome[];
  /** The full backup taken by the apply being undone. */
  backup?: string;
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
  for (const key of section) servers = servers && typeof servers[key] === 'object' && servers[key] !== null ? (servers[key] as Record<string, unknown>) : undefined;
  const splices: Splice[] = [];
  const outcomes: RevertEntryOutcome[] = [];
  for (const c of changes) {
    const has = !!servers && Object.prototype.hasOwnProperty.call(servers, c.name);
    const current = has ? servers![c.name] : undefined;
    if (!has) outcomes.push({ name: c.name, status: 'removed-since' });
    else if (jsonEqual(current, c.after)) {
      const member = locate(text, [...section, c.name])!;
      // The original bytes when they still say the same thing; a re-rendering otherwise.
      const original = c.beforeText && parsesTo(c.beforeText, c.before) ? c.beforeText : renderValueAt(text, member, c.before);
      splices.push({ start: member.valueStart, end: member.valueEnd, text: original });
      outcomes.push({ name: c.name, status: 'restored' });
    } else if (jsonEqual(current, c.before)) outcomes.push({ name: c.name, status: 'already-original' });
    else outcomes.push({ name: c.name, status: 'changed-since' });
  }
  const out = applySplices(text, splices);
  parseJson(out); // never hand back broken JSON
  return { text: out, outcomes };
}

function parsesTo(text: string, value: unknown): boolean {
  try {
    return jsonEqual(JSON.parse(text), value);
  } catch {
    return false;
  }
}

export async function revertConfig(o: RevertOptions): Promise<RevertReport> {
  const { target, backups } = o;
  const file = target.file;
  // ~/.claude.json holds the user scope and each project's local scope: only this one's applies count.
  const stored = backups.latestUnreverted(file, target.section);
  if (!stored) return { file, result: 'nothing', outcomes: [], wrote: false, message: `nothing to revert: no apply of ${describeTarget(target)} is on record that is not reverted already`, ok: true };
  const backup = stored.record.backup;
  const run = (): RevertReport => {
    const text = readConfigText(file); // unreadable: throws, nothing is touched
    if (text === undefined) {
      return { file, result: 'missing-file', outcomes: [], backup, wrote: false, message: `${file} no longer exists, so nothing was restored; the copy taken before the apply is ${backup}`, ok: false };
    }
    try {
      serversOf(target, text);
    } catch (err) {
      if (err instanceof ConfigError && err.kind === 'corrupt') return target.scope === 'project' ? restoreWhole(o, stored, text, err) : refuseCorrupt(o, stored, text, err);
      throw err; // valid JSON of the wrong shape: reported, never overwritten
    }
    const plan = planRevert(text, target.section, stored.record.changes);
    const changed = plan.text !== text;
    if (o.dryRun) {
      // The servers object only, every entry's secrets hidden (a restored stdio entry brings its env back).
      const diff = sectionDiff(text, plan.text, target.section, file, `${file} (after mcpshare revert)`);
      return { file, result: 'reverted', outcomes: plan.outcomes, backup, wrote: false, diff, message: summary(plan.outcomes, false), ok: true };
    }
    const savedBefore = changed ? backups.save(file, text, 'before-revert') : undefined;
    if (changed) writeConfigText(fileMeta(file), plan.text);
    backups.markReverted(stored);
    return { file, result: 'reverted', outcomes: plan.outcomes, backup, savedBefore, wrote: changed, message: summary(plan.outcomes, true), ok: true };
  };
  // Read, decide and write under Claude Code's lock, so none of its saves lands in between.
  return o.dryRun ? run() : withTargetLock(target, run);
}

/**
 * ~/.claude.json does not parse: change nothing. Its backup is from before the apply; putting it back
 * would silently undo everything Claude Code saved since, so that is the user's call, with the command.
 */
function refuseCorrupt(o: RevertOptions, stored: StoredRecord, corrupt: string, err: ConfigError): RevertReport {
  const { target } = o;
  const backup = stored.record.backup;
  let position: { line: number; column: number } | undefined;
  let detail = err.message;
  try {
    parseJson(corrupt);
  } catch (e) {
    if (e instanceof JsonSyntaxError) {
      detail = e.message;
      if (e.line !== undefined && e.column !== undefined) position = { line: e.line, column: e.column };
    }
  }
  const restoreCommand = `cp ${shellWord(backup)} ${shellWord(target.file)}`;
  const where = position ? ` at line ${position.line}, column ${position.column}` : '';
  return {
    file: target.file,
    result: 'corrupt',
    outcomes: [],
    backup,
    position,
    restoreCommand,
    wrote: false,
    message:
      `${target.file} is not valid JSON${where} (${detail}); revert changed nothing. ` +
      `Restoring the whole backup taken before the apply (${stored.record.at}) would also undo everything Claude Code saved in it since: other projects, account data, the other scopes. ` +
      `Fix the file by hand${where}, then run revert again; or, to put the backup back as it was, accepting that loss: ${restoreCommand}`,
    ok: false,
  };
}

/** A project's .mcp.json does not parse: save it aside, put the pre-apply backup back whole. */
function restoreWhole(o: RevertOptions, stored: StoredRecord, corrupt: string, err: ConfigError): RevertReport {
  const { target, backups } = o;
  const backup = stored.record.backup;
  let original: string;
  try {
    original = readFileSync(backup, 'utf8');
  } catch {
    throw new ConfigError(`${err.message}. Its backup ${backup} cannot be read either, so nothing was restored`, target.file, 'corrupt');
  }
  const outcomes = stored.record.changes.map((c): RevertEntryOutcome => ({ name: c.name, status: 'restored' }));
  const why = `${target.file} is not valid JSON (${err.message.replace(/^.*?not valid JSON: /, '').replace(/; it was left untouched.*$/, '')})`;
  if (o.dryRun) {
    return { file: target.file, result: 'restored-backup', outcomes, backup, wrote: false, message: `${why}: revert would save it aside and restore the whole backup ${backup}`, ok: true };
  }
  const corruptSavedAs = backups.save(target.file, corrupt, 'corrupt');
  writeConfigText(fileMeta(target.file), original);
  backups.markReverted(stored);
  return {
    file: target.file,
    result: 'restored-backup',
    outcomes,
    backup,
    corruptSavedAs,
    wrote: true,
    message: `${why}: saved it as ${corruptSavedAs} and restored the whole backup ${backup} (changes made to the file since the apply are in the saved copy)`,
    ok: true,
  };
}

function summary(outcomes: RevertEntryOutcome[], done: boolean): string {
  const n = outcomes.filter((x) => x.status === 'restored').length;
  const verb = done ? 'restored' : 'would restore';
  return n ? `${verb} ${n === 1 ? '1 entry to what it was' : `${n} entries to what they were`} before the apply` : `no entry still holds what the apply wrote: nothing ${done ? 'was changed' : 'would change'}`;
}
