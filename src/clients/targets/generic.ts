import { chmodSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { probe as realProbe } from '../../health/probe.js';
import type { ProbeResult } from '../../health/types.js';
import type { ServerEntry } from '../../registry/registry.js';
import { writeFileAtomic } from '../../util/atomic.js';
import { shellWord } from '../claude-config.js';
import { envWarnings, judge, judgeAddition } from '../apply.js';
import type { ApplyRecord, StoredRecord } from '../backups.js';
import { isMcpshareError, McpshareError } from '../../errors.js';
import { configError, fileMeta, readConfigText } from '../claude-config.js';
import { jsonEqual } from '../json-text.js';
import type { RevertEntryOutcome } from '../revert.js';
import { checkJson, FormatError, insertMember, parseJsonDoc, removeMember, replaceValue, valueText } from './jsonc-edit.js';
import { clientStore, readBackup, sha256, unreverted, type ClientChange, type ClientRecord } from './records.js';
import { endpointFor, envDiffers, onPath, triageEntry, type Endpoint } from './switch.js';
import { addTomlTable, parseToml, setToml } from './toml-edit.js';
import type {
  ClientApplyOutcome,
  ClientApplyReport,
  ClientConfig,
  ClientContext,
  ClientDetection,
  ClientEntry,
  ClientName,
  ClientRevertReport,
  CommonEntry,
  ConfigFormat,
  McpClient,
  SwitchOptions,
} from './types.js';

/**
 * The engine behind every client but Claude Code (whose own engine is apply.ts/revert.ts): a client
 * module is a ClientSpec (where its files are, their format, the key of its servers, how its entries
 * look), and defineClient() gives it the common face. Decisions are pure (switch.ts); the file is
 * read, the daemons are probed, the file is read again and written once, atomically, with its
 * mode kept and a full copy and a record of the changed entries kept first (records.ts).
 */
export interface ClientSpec {
  name: ClientName;
  label: string;
  /** Its commands on PATH. */
  binaries: readonly string[];
  /** Directories that exist once it has run (~/.cursor, ~/.codex). */
  homeDirs(ctx: ClientContext): string[];
  /** The user's config files, preferred first (the first one is created by apply --add when none exists). */
  userFiles(ctx: ClientContext): string[];
  /** A project's config files, preferred first. */
  projectFiles(dir: string, ctx: ClientContext): string[];
  format(file: string): ConfigFormat;
  section: readonly string[];
  /** It speaks SSE; if not, bridges are reached over /mcp and SSE-only native daemons are left. */
  sse: boolean;
  toCommon(value: unknown, where: { home: string; dir?: string }): CommonEntry;
  /** The entry that reaches the daemon; `old`, the entry it replaces, lends it its transport-independent keys (timeouts, tool filters). */
  shared(reg: ServerEntry, endpoint: Endpoint, old: unknown): unknown;
}

const FORMAT_NAME: Record<ConfigFormat, string> = { json: 'JSON', jsonc: 'JSON (with comments)', toml: 'TOML' };
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A config that does not parse: where, for people and for `--json`. */
export class ClientConfigError extends McpshareError<'config-corrupt'> {
  constructor(
    message: string,
    file: string,
    readonly position?: { line: number; column: number },
  ) {
    super('config-corrupt', message, { context: { file } });
  }
}

export interface Loaded {
  exists: boolean;
  text: string;
  data: Record<string, unknown>;
  /** The servers object (undefined when absent). */
  servers: Record<string, unknown> | undefined;
}

export function parseConfig(config: Pick<ClientConfig, 'file' | 'format'>, text: string): Record<string, unknown> {
  try {
    const data = config.format === 'toml' ? parseToml(text) : parseJsonDoc(text, config.format === 'json').data;
    if (!isObject(data)) throw configError(`${config.file} is not a ${FORMAT_NAME[config.format]} object; it was left untouched`, config.file, 'shape');
    return data;
  } catch (err) {
    if (!(err instanceof FormatError)) throw err;
    throw new ClientConfigError(
      `${config.file} is not valid ${FORMAT_NAME[config.format]}: ${err.message}; it was left untouched — fix it (or restore a backup) and try again`,
      config.file,
      { line: err.line, column: err.column },
    );
  }
}

function at(data: unknown, path: readonly string[]): unknown {
  let node = data;
  for (const k of path) node = isObject(node) ? node[k] : undefined;
  return node;
}

export function loadConfig(config: ClientConfig): Loaded {
  const text = readConfigText(config.file); // unreadable: a ConfigError naming the file
  if (text === undefined) return { exists: false, text: '', data: {}, servers: undefined };
  const data = parseConfig(config, text);
  const servers = at(data, config.section);
  if (servers !== undefined && !isObject(servers))
    throw configError(`${config.file}: ${config.section.join('.')} is not an object; it was left untouched`, config.file, 'shape');
  return { exists: true, text, data, servers };
}

/** One edit of the text in its format; each returns the new text. */
function edit(config: ClientConfig, text: string) {
  const strict = config.format === 'json';
  if (config.format === 'toml') {
    return {
      set: (path: string[], value: unknown) => setToml(text, path, value),
      insert: (obj: readonly string[], key: string, value: unknown) =>
        isObject(value) ? addTomlTable(text, [...obj, key], value) : setToml(text, [...obj, key], value),
      remove: (obj: readonly string[], key: string) => setToml(text, [...obj, key], undefined),
      valueText: (): string | undefined => undefined,
    };
  }
  const doc = parseJsonDoc(text, strict);
  return {
    set: (path: string[], value: unknown, exactText?: string) => replaceValue(doc, path, value, exactText),
    insert: (obj: readonly string[], key: string, value: unknown) => insertMember(doc, obj, key, value),
    remove: (obj: readonly string[], key: string) => removeMember(doc, obj, key),
    valueText: (path: string[]) => valueText(doc, path),
  };
}

function newFileText(config: ClientConfig, entries: ReadonlyMap<string, unknown>): string {
  const data = config.section.reduceRight<unknown>((inner, k) => ({ [k]: inner }), Object.fromEntries(entries));
  if (config.format === 'toml') {
    let text = '';
    for (const [name, value] of entries)
      text = isObject(value) ? addTomlTable(text, [...config.section, name], value) : setToml(text, [...config.section, name], value);
    return text;
  }
  return JSON.stringify(data, null, 2) + '\n';
}

function check(config: ClientConfig, text: string, expected: unknown): void {
  if (config.format === 'toml') {
    if (!jsonEqual(JSON.parse(JSON.stringify(parseToml(text))), JSON.parse(JSON.stringify(expected))))
      throw new Error('internal: the edited config does not parse to the intended content; nothing was written');
  } else checkJson(text, config.format === 'json', expected);
}

function writeText(config: ClientConfig, text: string, created: boolean): void {
  if (created) {
    // A project's folder for it (.vscode/, .cursor/) is made; a user's config folder must be the client's own.
    if (config.scope === 'project') mkdirSync(dirname(config.file), { recursive: true });
    else if (!existsSync(dirname(config.file)))
      throw configError(`${dirname(config.file)} does not exist, so ${config.file} cannot be created (is the client installed?)`, config.file, 'unreadable');
    const mode = config.scope === 'project' ? 0o644 : 0o600;
    writeFileAtomic(config.file, text, mode);
    chmodSync(config.file, mode);
    return;
  }
  const meta = fileMeta(config.file);
  writeFileAtomic(meta.realPath, text, meta.mode & 0o777);
  chmodSync(meta.realPath, meta.mode);
}

interface Candidate {
  name: string;
  reg: ServerEntry;
  endpoint: Endpoint;
  add: boolean;
  daemonName?: string;
}

export function defineClient(spec: ClientSpec): McpClient {
  const config = (ctx: ClientContext, file: string, scope: ClientConfig['scope'], dir?: string): ClientConfig => ({
    client: spec.name,
    scope,
    file,
    format: spec.format(file),
    section: [...spec.section],
    dir,
    home: ctx.home,
  });
  const where = (c: ClientConfig) => ({ home: c.home ?? process.env.HOME ?? '', dir: c.dir });

  const read = (c: ClientConfig): ClientEntry[] => {
    const loaded = loadConfig(c);
    return Object.entries(loaded.servers ?? {}).map(([name, raw]) => ({ name, raw, entry: spec.toCommon(raw, where(c)) }));
  };

  return {
    name: spec.name,
    label: spec.label,

    detect(ctx: ClientContext): ClientDetection {
      const evidence: string[] = [];
      let binary: string | undefined;
      for (const b of spec.binaries) {
        binary = onPath(b, ctx.env);
        if (binary) {
          evidence.push(`${b} on PATH (${binary})`);
          break;
        }
      }
      for (const f of spec.userFiles(ctx)) if (existsSync(f)) evidence.push(f);
      for (const d of spec.homeDirs(ctx)) if (existsSync(d) && statSync(d).isDirectory() && !evidence.some((e) => e.startsWith(d))) evidence.push(d);
      return { client: spec.name, label: spec.label, installed: evidence.length > 0, binary, evidence };
    },

    configs(ctx: ClientContext, project?: string): ClientConfig[] {
      if (project === undefined) return spec.userFiles(ctx).map((f) => config(ctx, f, 'user'));
      const dir = resolve(project);
      return spec.projectFiles(dir, ctx).map((f) => config(ctx, f, 'project', dir));
    },

    read,

    async apply(c: ClientConfig, o: SwitchOptions): Promise<ClientApplyReport> {
      const env = o.env ?? process.env;
      const first = loadConfig(c); // corrupt: throws with line and column, nothing touched
      const base = { client: spec.name, file: c.file, scope: c.scope, exists: first.exists, dryRun: !!o.dryRun, wrote: false };
      const named = new Set(o.names ?? []);
      if (!first.servers && !o.add) {
        const outcomes = [...named].map((name): ClientApplyOutcome => ({
          name,
          status: 'not-in-config',
          failed: true,
          reason: 'no entry of that name in this config',
        }));
        return {
          ...base,
          outcomes,
          note: first.exists
            ? `${c.file} has no ${c.section.join('.')}: nothing to switch (--add adds the registered servers)`
            : `${c.file} does not exist: nothing to switch (--add creates it with the registered servers)`,
          ok: !outcomes.length,
        };
      }
      const servers = first.servers ?? {};
      const outcomes: ClientApplyOutcome[] = [];
      const candidates: Candidate[] = [];
      const reached = new Set<string>();
      const consider = (name: string, raw: unknown) => {
        const common = spec.toCommon(raw, where(c));
        const t = triageEntry(name, common, o.registry, env, named.has(name));
        if ('outcome' in t) {
          if (t.outcome.status === 'already-shared') reached.add(t.outcome.daemon ?? name);
          outcomes.push(t.outcome);
          return;
        }
        reached.add(t.candidate.name);
        const differs = envDiffers(common, t.candidate, env);
        if (differs.length) {
          outcomes.push({
            name,
            status: 'left',
            failed: named.has(name),
            daemon: t.daemonName,
            reason: `this entry sets ${differs.join(', ')} to other values than the daemon of "${t.candidate.name}" has: another configuration of the server, so it was left as it is`,
            fix: `rename the entry and import it as a server of its own, or change its values with "mcpshare edit ${t.candidate.name} --env KEY=VALUE"`,
          });
          return;
        }
        const ep = endpointFor(t.candidate, spec.sse);
        if ('reason' in ep) outcomes.push({ name, status: 'left', failed: named.has(name), reason: ep.reason, daemon: t.daemonName });
        else candidates.push({ name, reg: t.candidate, endpoint: ep, add: false, daemonName: t.daemonName });
      };
      for (const [name, raw] of Object.entries(servers)) if (!named.size || named.has(name)) consider(name, raw);
      for (const name of named) {
        if (Object.prototype.hasOwnProperty.call(servers, name)) continue;
        if (o.add && o.registry.some((r) => r.name === name)) continue;
        outcomes.push({
          name,
          status: 'not-in-config',
          failed: true,
          reason: o.add ? 'no entry of that name in this config, and no server of that name is registered to add' : 'no entry of that name in this config',
        });
      }
      if (o.add) {
        for (const reg of o.registry) {
          if ((named.size && !named.has(reg.name)) || Object.prototype.hasOwnProperty.call(servers, reg.name) || reached.has(reg.name)) continue;
          const ep = endpointFor(reg, spec.sse);
          if ('reason' in ep) outcomes.push({ name: reg.name, status: 'not-added', failed: named.has(reg.name), reason: `not added: ${ep.reason}` });
          else candidates.push({ name: reg.name, reg, endpoint: ep, add: true });
        }
      }
      const probe = o.probe ?? realProbe;
      const judged = await Promise.all(
        candidates.map(async (cand) => {
          let result: ProbeResult;
          try {
            result = await probe({ url: cand.endpoint.url, transport: cand.endpoint.transport }, o.probeOptions);
          } catch (err) {
            result = {
              url: cand.endpoint.url,
              transport: cand.endpoint.transport,
              ok: false,
              diagnosis: 'refused',
              latencyMs: 0,
              message: `the probe failed: ${(err as Error).message}`,
            };
          }
          const c2 = { name: cand.name, entry: cand.reg, target: { url: cand.endpoint.url, transport: cand.endpoint.transport } };
          const outcome: ClientApplyOutcome = cand.add ? judgeAddition(c2, result, named.has(cand.name)) : judge(c2, result);
          if (cand.daemonName) outcome.daemon = cand.daemonName;
          if (outcome.status === 'switched') outcome.warnings = envWarnings(envOf(spec.toCommon(servers[cand.name], where(c))), cand.reg);
          return { cand, outcome };
        }),
      );
      outcomes.push(...judged.map((j) => j.outcome));
      const order = [...Object.keys(servers), ...o.registry.map((r) => r.name), ...named];
      outcomes.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
      const ok = () => !outcomes.some((x) => x.failed);
      const going = judged.filter((j) => j.outcome.status === 'switched' || j.outcome.status === 'added');
      if (!going.length) {
        const note = !first.exists && o.add ? `${c.file} does not exist, and no registered server could be added: nothing was created` : undefined;
        return { ...base, outcomes, note, ok: ok() };
      }
      const valueOf = (cand: Candidate) => spec.shared(cand.reg, cand.endpoint, servers[cand.name]);
      if (o.dryRun) return { ...base, outcomes, created: !first.exists || undefined, ok: ok() };

      // Read again: the client may have saved the file while the probes ran.
      const current = readConfigText(c.file);
      if (current !== (first.exists ? first.text : undefined)) {
        const fresh = current === undefined ? {} : ((at(parseConfig(c, current), c.section) as Record<string, unknown> | undefined) ?? {});
        for (const j of going) {
          const moved = j.cand.add ? Object.prototype.hasOwnProperty.call(fresh, j.cand.name) : !jsonEqual(fresh[j.cand.name], servers[j.cand.name]);
          if (!moved) continue;
          j.outcome.status = j.cand.add ? 'not-added' : 'left';
          j.outcome.failed = !j.cand.add || named.has(j.cand.name);
          j.outcome.reason = j.cand.add
            ? 'an entry of that name appeared while apply ran; left as it is'
            : 'the entry changed while apply ran; run apply again';
        }
      }
      const writing = going.filter((j) => j.outcome.status === 'switched' || j.outcome.status === 'added');
      if (!writing.length) return { ...base, outcomes, ok: ok() };
      const created = current === undefined;
      const changes: ClientChange[] = [];
      let text: string;
      if (created) {
        const adds = new Map(writing.map((j) => [j.cand.name, valueOf(j.cand)] as const));
        text = newFileText(c, adds);
        for (const [name, after] of adds) changes.push({ name, added: true, after });
      } else {
        text = current;
        const data = parseConfig(c, current);
        const expected = structuredClone(data);
        let node = expected as Record<string, unknown>;
        for (const k of c.section) node = (isObject(node[k]) ? node[k] : (node[k] = {})) as Record<string, unknown>;
        const before = (at(data, c.section) as Record<string, unknown> | undefined) ?? {};
        for (const j of writing) {
          const after = valueOf(j.cand);
          const e = edit(c, text);
          if (j.cand.add) {
            text = e.insert(c.section, j.cand.name, after);
            changes.push({ name: j.cand.name, added: true, after });
          } else {
            const path = [...c.section, j.cand.name];
            changes.push({ name: j.cand.name, before: before[j.cand.name], beforeText: e.valueText(path), after });
            text = e.set(path, after);
          }
          node[j.cand.name] = after;
        }
        check(c, text, expected);
      }
      const store = clientStore(o.stateDir);
      const backup = store.save(c.file, current ?? '', 'backup');
      const record: ClientRecord = {
        version: 1,
        client: spec.name,
        file: c.file,
        section: [...c.section],
        scope: c.scope,
        format: c.format,
        dir: c.dir,
        at: new Date().toISOString(),
        backup,
        ...(created ? { created: true } : {}),
        afterHash: sha256(text),
        changes,
      };
      const recordPath = store.writeRecord(record as unknown as ApplyRecord);
      try {
        writeText(c, text, created);
      } catch (err) {
        store.removeRecord(recordPath);
        throw isMcpshareError(err, 'config-unreadable', 'config-corrupt', 'config-shape')
          ? err
          : new Error(`could not write ${c.file}: ${(err as Error).message}; it was left as it was`);
      }
      store.prune(c.file);
      return { ...base, outcomes, wrote: true, ...(created ? { created: true } : { backup }), record: recordPath, ok: ok() };
    },

    async revert(c: ClientConfig, o: { stateDir: string; dryRun?: boolean; all?: boolean }): Promise<ClientRevertReport> {
      return revertClient(c, o);
    },
  };
}

const envOf = (e: CommonEntry) => (e.kind === 'stdio' && Object.keys(e.env).length ? { command: e.command, env: e.env } : undefined);

/** Undoes the newest apply of `c` (all of them with `all`), newest first; see ClientRevertReport. */
export async function revertClient(c: ClientConfig, o: { stateDir: string; dryRun?: boolean; all?: boolean }): Promise<ClientRevertReport> {
  const store = clientStore(o.stateDir);
  const records = unreverted(store, c);
  const base = { client: c.client, file: c.file, scope: c.scope };
  if (!records.length)
    return { ...base, result: 'nothing', outcomes: [], wrote: false, message: `no apply of ${c.file} is on record that is not reverted already`, ok: true };
  const undo = o.all ? records : records.slice(0, 1);
  const oldest = undo[undo.length - 1].record;
  const common = { ...base, applies: undo.length, backup: oldest.created ? undefined : oldest.backup };
  const mark = () => undo.forEach((r) => store.markReverted(r as unknown as StoredRecord));
  const text = readConfigText(c.file);
  if (text === undefined) {
    if (oldest.created) {
      if (!o.dryRun) mark();
      return {
        ...common,
        result: 'exact',
        outcomes: [],
        wrote: false,
        message: `${c.file} no longer exists, as before the apply that created it: nothing to do`,
        ok: true,
      };
    }
    return {
      ...common,
      result: 'missing-file',
      outcomes: [],
      wrote: false,
      message: `${c.file} no longer exists, so nothing was restored; the copy taken before the apply is ${oldest.backup}`,
      ok: false,
    };
  }

  // Untouched since the apply(s): the exact bytes from before come back.
  let now: string | undefined = text;
  let k = 0;
  for (; k < undo.length && now !== undefined && sha256(now) === undo[k].record.afterHash; k++)
    now = undo[k].record.created ? undefined : readBackup(undo[k].record.backup);
  const outcomes: RevertEntryOutcome[] = undo
    .slice(0, k)
    .flatMap((r) => r.record.changes.map((ch): RevertEntryOutcome => ({ name: ch.name, status: ch.added ? 'deleted' : 'restored' })));
  let exact = k === undo.length;

  if (!exact) {
    if (now === undefined) {
      // An older apply created the file, a newer one changed it since: nothing left to compare against.
      now = '';
    }
    let data: Record<string, unknown>;
    try {
      data = parseConfig(c, now);
    } catch (err) {
      if (!(err instanceof ClientConfigError)) throw err;
      const restoreCommand = oldest.created ? `rm ${shellWord(c.file)}` : `cp ${shellWord(oldest.backup)} ${shellWord(c.file)}`;
      return {
        ...common,
        result: 'corrupt',
        outcomes: [],
        position: err.position,
        restoreCommand,
        wrote: false,
        message: `${err.message.replace(/; it was left untouched.*$/, '')}; revert changed nothing. Fix it by hand, then run revert again; or put back the copy taken before the apply (${oldest.at}), losing what changed since: ${restoreCommand}`,
        ok: false,
      };
    }
    for (const r of undo.slice(k)) {
      for (const ch of r.record.changes) {
        const servers = at(data, c.section) as Record<string, unknown> | undefined;
        const has = !!servers && Object.prototype.hasOwnProperty.call(servers, ch.name);
        const cur = has ? servers![ch.name] : undefined;
        let status: RevertEntryOutcome['status'];
        if (ch.added) status = !has ? 'already-original' : jsonEqual(cur, ch.after) ? 'deleted' : 'changed-since';
        else status = !has ? 'removed-since' : jsonEqual(cur, ch.after) ? 'restored' : jsonEqual(cur, ch.before) ? 'already-original' : 'changed-since';
        outcomes.push({ name: ch.name, status });
        if (status === 'deleted') now = edit(c, now!).remove(c.section, ch.name);
        else if (status === 'restored') {
          const exactText = ch.beforeText !== undefined && parsesTo(ch.beforeText, ch.before) ? ch.beforeText : undefined;
          now = edit(c, now!).set([...c.section, ch.name], ch.before, exactText);
        }
        data = parseConfig(c, now!);
      }
    }
    // A file apply created that holds nothing else now is deleted, as before.
    if (
      oldest.created &&
      jsonEqual(
        data,
        c.section.reduceRight<unknown>((inner, key) => ({ [key]: inner }), {}),
      )
    ) {
      now = undefined;
      exact = false;
    }
  }
  const changed = now !== text;
  const n = outcomes.filter((x) => x.status === 'restored').length;
  const d = outcomes.filter((x) => x.status === 'deleted').length;
  const how = exact
    ? now === undefined
      ? `${o.dryRun ? 'would delete' : 'deleted'} ${c.file}, which the apply created (it was as the apply left it)`
      : `${o.dryRun ? 'would put' : 'put'} back the file exactly as it was before the apply (it was as the apply left it)`
    : [
        n ? `${o.dryRun ? 'would restore' : 'restored'} ${n} entr${n === 1 ? 'y' : 'ies'}` : '',
        d ? `${o.dryRun ? 'would delete' : 'deleted'} ${d} entr${d === 1 ? 'y' : 'ies'} the apply added` : '',
        now === undefined ? `${o.dryRun ? 'would delete' : 'deleted'} ${c.file}, which the apply created and which holds nothing else` : '',
      ]
        .filter(Boolean)
        .join('; ') || `no entry still holds what the apply wrote: nothing ${o.dryRun ? 'would change' : 'was changed'}`;
  if (o.dryRun)
    return { ...common, result: exact ? 'exact' : 'reverted', outcomes, wrote: false, deletedFile: now === undefined || undefined, message: how, ok: true };
  const savedBefore = changed ? store.save(c.file, text, 'before-revert') : undefined;
  if (now === undefined) rmSync(c.file, { force: true });
  else if (changed) {
    const meta = fileMeta(c.file);
    writeFileAtomic(meta.realPath, now, meta.mode & 0o777);
    chmodSync(meta.realPath, meta.mode);
  }
  mark();
  return {
    ...common,
    result: exact ? 'exact' : 'reverted',
    outcomes,
    savedBefore,
    wrote: changed,
    deletedFile: now === undefined || undefined,
    message: how,
    ok: true,
  };
}

function parsesTo(text: string, value: unknown): boolean {
  try {
    return jsonEqual(parseJsonDoc(text, false).data, value);
  } catch {
    return false;
  }
}
