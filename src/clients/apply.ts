import { pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { readEnvIfExists } from '../registry/secrets.js';
import { shareabilityOf } from '../registry/shareability.js';
import type { ClientTransport, ServerEntry } from '../registry/registry.js';
import { probe as realProbe } from '../health/probe.js';
import type { ProbeOptions, ProbeResult, ProbeTarget } from '../health/types.js';
import { clientUrl } from '../registry/url.js';
import type { BackupStore, EntryChange } from './backups.js';
import {
  asRemote,
  asStdio,
  checkSectionPath,
  configError,
  fileMeta,
  localHint,
  localStdioServers,
  localTarget,
  missingSection,
  readConfig,
  readConfigText,
  serversOf,
  targetFlag,
  withTargetLock,
  writeConfigText,
  type ConfigTarget,
  type RemoteEntry,
  type StdioEntry,
} from './claude-config.js';
import { sectionDiff } from './display.js';
import { expandDeep } from './expand.js';
import { applySplices, insertMembers, jsonEqual, locate, parseJson, renderValueAt, type Splice } from './json-text.js';
import { showCommand, showUrl } from '../util/redact.js';
import { sameServer } from './match.js';

/**
 * `mcpshare apply`: point a client config's entries at their shared daemons.
 *
 * Pure decisions first (triage: what each entry is; planEdits: the new text), then IO (probe the
 * candidates, back up, write under the lock). An entry keeps its NAME, so the client's tool names
 * (`mcp__NAME__tool`) and permission rules stay valid; only its value becomes `{"type", "url"}`.
 */
export type ProbeFn = (target: ProbeTarget, opts?: ProbeOptions) => Promise<ProbeResult>;

export type ApplyStatus =
  /** Now points at its daemon (or would, in a dry run). */
  | 'switched'
  /** Already points at its daemon: nothing to do. */
  | 'already-shared'
  /** A registered server that was not switched: its daemon failed the handshake, or the entry is not the registered server. */
  | 'left'
  /** Known to keep per-session state: stays a stdio entry. */
  | 'per-session'
  /** A stdio server that is not registered with mcpshare. */
  | 'not-shared'
  /** A remote server that is not an mcpshare daemon. */
  | 'remote'
  /** Named on the command line but not in the config. */
  | 'not-in-config'
  /** Not a stdio or http/sse entry this version understands. */
  | 'unsupported'
  /** `--add`: a registered server with no entry of its name: added, pointing at its daemon (or would be, in a dry run). */
  | 'added'
  /**
   * `--add`: a registered server that was not added: its daemon failed the handshake (or an entry of
   * its name appeared while apply ran). Fails the run only when it was named on the command line.
   */
  | 'not-added';

export interface ApplyOutcome {
  name: string;
  status: ApplyStatus;
  /**
   * Makes the exit status 1: a candidate whose daemon failed the handshake (or whose entry changed
   * while apply ran), or an entry named on the command line that is not shared now.
   */
  failed: boolean;
  reason?: string;
  fix?: string;
  url?: string;
  transport?: ClientTransport;
  /** The daemon's MCP server, from the handshake. */
  server?: { name: string; version: string };
  warnings?: string[];
}

/** An entry that will be switched (or, with `--add`, added) if its daemon passes the handshake. */
export interface Candidate {
  name: string;
  entry: ServerEntry;
  target: ProbeTarget;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/**
 * The config value apply writes for a registered server. A project-mode server in a project's own
 * config (project or local scope) also gets the project's directory as the X-Mcpshare-Project
 * header: the bridge uses it for a session that declares no roots (and for 2026 stateless requests).
 */
export function sharedValue(entry: ServerEntry, projectDir?: string): { type: ClientTransport; url: string; headers?: Record<string, string> } {
  const value = { type: entry.transport, url: clientUrl(entry) };
  if (entry.share !== 'project' || !projectDir) return value;
  return { ...value, headers: { 'X-Mcpshare-Project': pathToFileURL(projectDir).href } };
}

/** True when a remote entry already reaches this daemon (a bridge serves /sse as well as /mcp). */
export function pointsAt(remote: RemoteEntry, entry: ServerEntry): boolean {
  const u = loopbackUrl(remote.url);
  if (!u || Number(u.port) !== entry.port) return false;
  if (remote.type === entry.transport && u.pathname === entry.path) return true;
  return entry.kind === 'bridged' && ((remote.type === 'sse' && u.pathname === '/sse') || (remote.type === 'http' && u.pathname === '/mcp'));
}

function loopbackUrl(url: string): URL | undefined {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' && LOOPBACK.has(u.hostname) ? u : undefined;
  } catch {
    return undefined;
  }
}

/** A loopback URL in the shape mcpshare writes, at another port or path: a daemon that moved (`mcpshare edit --port`). */
function looksLikeOurs(remote: RemoteEntry): boolean {
  const u = loopbackUrl(remote.url);
  return !!u && (remote.type === 'http' || remote.type === 'sse') && Object.keys(remote).every((k) => k === 'type' || k === 'url');
}

/**
 * What apply does with each entry, before any probe. `names` limits it to those entries (each
 * must then exist, or with `add` be registered: additions() decides about those). Pure: the
 * config's servers and the registry in, decisions out.
 */
export function triage(
  servers: Record<string, unknown>,
  registry: ReadonlyMap<string, ServerEntry>,
  names: readonly string[] | undefined,
  env: NodeJS.ProcessEnv,
  add = false,
): { outcomes: ApplyOutcome[]; candidates: Candidate[] } {
  const outcomes: ApplyOutcome[] = [];
  const candidates: Candidate[] = [];
  const named = new Set(names ?? []);
  for (const name of named.size ? named : Object.keys(servers)) {
    const asked = named.has(name);
    const reg = registry.get(name);
    if (!Object.prototype.hasOwnProperty.call(servers, name)) {
      if (add && reg) continue; // one to add
      outcomes.push({
        name,
        status: 'not-in-config',
        failed: true,
        reason: add ? 'no entry of that name in this config, and no server of that name is registered to add' : 'no entry of that name in this config',
      });
      continue;
    }
    const value = servers[name];
    const remote = asRemote(value);
    if (remote) {
      if (reg && pointsAt(remote, reg))
        outcomes.push({ name, status: 'already-shared', failed: false, url: showUrl(remote.url), transport: remote.type as ClientTransport });
      else if (reg && looksLikeOurs(remote)) candidates.push({ name, entry: reg, target: { url: clientUrl(reg), transport: reg.transport } });
      else if (reg)
        outcomes.push({
          name,
          status: 'left',
          failed: asked,
          reason: `a remote entry (${showUrl(remote.url)}) that is not the registered daemon ${clientUrl(reg)}; left as it is`,
        });
      else outcomes.push({ name, status: 'remote', failed: asked, reason: `already a remote server (${remote.type} ${showUrl(remote.url)})` });
      continue;
    }
    const stdio = asStdio(value);
    if (!stdio) {
      outcomes.push({ name, status: 'unsupported', failed: asked, reason: 'not a stdio or http/sse entry mcpshare understands; left as it is' });
      continue;
    }
    const { command, args } = expandDeep({ command: stdio.command, args: stdio.args ?? [] }, env).value;
    const verdict = shareabilityOf(command, args);
    if (verdict.verdict === 'per-session') {
      outcomes.push({ name, status: 'per-session', failed: asked, reason: verdict.reason });
      continue;
    }
    if (!reg) {
      outcomes.push({
        name,
        status: 'not-shared',
        failed: asked,
        reason: verdict.verdict === 'shareable' ? `${verdict.reason}, but not registered with mcpshare` : 'not registered with mcpshare',
        fix:
          verdict.verdict === 'shareable'
            ? 'mcpshare import, then mcpshare start'
            : `if it keeps no per-session state: mcpshare add ${name} -- ${showCommand(command, args)}`,
      });
      continue;
    }
    if (!sameServer({ command, args }, reg)) {
      outcomes.push({
        name,
        status: 'left',
        failed: asked,
        reason: `this entry runs "${showCommand(command, args)}" but the registered "${name}" runs "${showCommand(reg.command, reg.args)}": not the same server, so it was left as it is`,
        fix: `rename one of them, or point the registered server at this command with "mcpshare edit ${name} -- …"`,
      });
      continue;
    }
    candidates.push({ name, entry: reg, target: { url: clientUrl(reg), transport: reg.transport } });
  }
  return { outcomes, candidates };
}

/** A candidate's outcome from its handshake. */
export function judge(c: Candidate, result: ProbeResult): ApplyOutcome {
  if (result.ok) return { name: c.name, status: 'switched', failed: false, url: c.target.url, transport: c.target.transport, server: result.server };
  return {
    name: c.name,
    status: 'left',
    failed: true,
    url: c.target.url,
    reason: `its daemon at ${c.target.url} failed the handshake (${result.diagnosis}): ${result.message}`,
    // Nothing listening: we know which daemon that is. Otherwise the probe's diagnosis is more precise.
    fix: result.diagnosis === 'refused' ? `mcpshare start ${c.name}` : (result.fix ?? `mcpshare status ${c.name}`),
  };
}

/**
 * `--add`: the registered servers (all, or those in `names`) that have no entry of their name in
 * the config. Each is a candidate to add, unless another entry of the config already points at its
 * daemon (then it is 'already-shared' under that name: two names for one server would only double
 * its tools). Pure, like triage().
 */
export function additions(
  servers: Record<string, unknown>,
  registry: ReadonlyMap<string, ServerEntry>,
  names: readonly string[] | undefined,
): { outcomes: ApplyOutcome[]; candidates: Candidate[] } {
  const outcomes: ApplyOutcome[] = [];
  const candidates: Candidate[] = [];
  const wanted = names?.length ? [...new Set(names)].map((n) => registry.get(n)).filter((e): e is ServerEntry => !!e) : [...registry.values()];
  for (const reg of wanted) {
    if (Object.prototype.hasOwnProperty.call(servers, reg.name)) continue; // triage() decides about it
    const other = Object.entries(servers).find(([, v]) => {
      const remote = asRemote(v);
      return !!remote && pointsAt(remote, reg);
    });
    if (other) {
      const remote = asRemote(other[1])!;
      outcomes.push({
        name: reg.name,
        status: 'already-shared',
        failed: false,
        url: showUrl(remote.url),
        transport: remote.type as ClientTransport,
        reason: `the entry "${other[0]}" already points at its daemon`,
      });
      continue;
    }
    candidates.push({ name: reg.name, entry: reg, target: { url: clientUrl(reg), transport: reg.transport } });
  }
  return { outcomes, candidates };
}

/** An addition's outcome from its handshake; `asked`: named on the command line (only then is a failure a failure of the run). */
export function judgeAddition(c: Candidate, result: ProbeResult, asked: boolean): ApplyOutcome {
  const j = judge(c, result);
  if (j.status === 'switched') return { ...j, status: 'added' };
  return { ...j, status: 'not-added', failed: asked, reason: `not added: ${j.reason}` };
}

/** The index of the first key of `section` that is missing in the config (undefined when none is; 0 when there is no file). */
function missingFrom(text: string | undefined, section: readonly string[]): number | undefined {
  if (text === undefined) return 0;
  let node = parseJson(text) as Record<string, unknown>;
  for (const [i, key] of section.entries()) {
    if (!Object.prototype.hasOwnProperty.call(node, key)) return i;
    node = node[key] as Record<string, unknown>;
  }
  return undefined;
}

/** `{"a": {"b": value}}` for keys ['a', 'b']. */
function nest(keys: readonly string[], value: unknown): Record<string, unknown> {
  return keys.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value) as Record<string, unknown>;
}

/**
 * The config text with each switched entry's value replaced and each entry in `added` added at the
 * end of the servers object (creating the object, and the objects on its path, when missing; the
 * whole file when `text` is undefined: 2-space JSON and a final newline),
 * and what changed (for revert). Everything else keeps its bytes. The result is checked to parse to
 * exactly the intended data.
 */
export function planEdits(
  text: string | undefined,
  section: readonly string[],
  values: ReadonlyMap<string, unknown>,
  added: ReadonlyMap<string, unknown> = new Map(),
): { text: string; changes: EntryChange[] } {
  const addedChanges = [...added].map(([name, after]): EntryChange => ({ name, added: true, after }));
  if (text === undefined) {
    if (values.size) throw new Error('internal: entries to switch in a file that does not exist');
    return { text: JSON.stringify(nest(section, Object.fromEntries(added)), null, 2) + '\n', changes: addedChanges };
  }
  const data = parseJson(text) as Record<string, unknown>;
  const servers = section.reduce<Record<string, unknown> | undefined>((node, key) => node?.[key] as Record<string, unknown> | undefined, data) ?? {};
  const splices: Splice[] = [];
  const changes: EntryChange[] = [];
  for (const [name, after] of values) {
    const member = locate(text, [...section, name]);
    if (!member) throw new Error(`internal: entry "${name}" not found in the config text`);
    splices.push({ start: member.valueStart, end: member.valueEnd, text: renderValueAt(text, member, after) });
    changes.push({ name, before: servers[name], beforeText: text.slice(member.valueStart, member.valueEnd), after });
  }
  if (added.size) {
    for (const name of added.keys())
      if (Object.prototype.hasOwnProperty.call(servers, name)) throw new Error(`internal: entry "${name}" to add is in the config already`);
    splices.push(insertMembers(text, section, [...added]));
    changes.push(...addedChanges);
  }
  const out = applySplices(text, splices);
  const expected = structuredClone(data);
  let node: Record<string, unknown> = expected;
  for (const key of section) node = (node[key] ??= {}) as Record<string, unknown>;
  for (const [name, after] of [...values, ...added]) node[name] = after;
  if (!jsonEqual(parseJson(out), expected)) throw new Error('internal: the edited config does not parse to the intended content; nothing was written');
  return { text: out, changes };
}

// ---------------------------------------------------------------------------------------------
// IO

export interface ApplyOptions {
  target: ConfigTarget;
  registry: readonly ServerEntry[];
  /** Only these entries (each must exist in the config, or with `add` be registered). */
  names?: readonly string[];
  dryRun?: boolean;
  /**
   * Also add every registered server (or each one in `names`) that has no entry of its name,
   * as {"type", "url"} of its daemon, when the daemon passes the handshake right then. Creates
   * the servers object (and the objects on its path) when missing, and a project's `.mcp.json`
   * (0644) when there is none. A server whose daemon is down is reported 'not-added', which fails
   * the run only when it was named.
   */
  add?: boolean;
  backups: BackupStore;
  /** The handshake (injectable; the real probe by default). */
  probe?: ProbeFn;
  probeOptions?: ProbeOptions;
  /** For `${VAR}` in entries when comparing commands (default process.env). */
  env?: NodeJS.ProcessEnv;
  /**
   * Project scope: the same project's local scope, named in the note when the project has no
   * `.mcp.json` servers but it has stdio servers (default: localTarget(dir) from process.env; null: do not look).
   */
  localScope?: ConfigTarget | null;
}

export interface ApplyReport {
  file: string;
  /** Which config: project (.mcp.json), user or local (~/.claude.json). */
  scope: ConfigTarget['scope'];
  /** Local scope: the project's key in ~/.claude.json. */
  projectKey?: string;
  exists: boolean;
  dryRun: boolean;
  outcomes: ApplyOutcome[];
  /** The file was rewritten (or created). */
  wrote: boolean;
  /** `--add`: the file did not exist and apply created it (in a dry run: would create it). */
  created?: boolean;
  /** Full copy of the file before this apply (absent when apply created the file), and the record revert uses. */
  backup?: string;
  record?: string;
  /** Dry run: what would change, as a diff of the servers object only, every entry's secrets redacted. */
  diff?: string;
  /** For people: why nothing happened, when that needs saying. */
  note?: string;
  /** Project scope without servers: the stdio servers of the same project's local scope (use --local). */
  localServers?: string[];
  /** Everything asked for is shared now (exit status 0). */
  ok: boolean;
}

export async function applyConfig(o: ApplyOptions): Promise<ApplyReport> {
  const { target } = o;
  const env = o.env ?? process.env;
  const cfg = readConfig(target); // corrupt or unreadable: throws, naming the file and position
  const base = { file: target.file, scope: target.scope, projectKey: target.projectKey, exists: cfg.exists, dryRun: !!o.dryRun, wrote: false };
  if ((!cfg.exists || !cfg.servers) && !o.add) {
    // Without --add, apply only replaces entries that are there: it never creates the file or the nesting.
    const outcomes = (o.names ?? []).map((name): ApplyOutcome => ({
      name,
      status: 'not-in-config',
      failed: true,
      reason: 'no entry of that name in this config',
    }));
    const local = localStdioServers(target, o.localScope === undefined && target.scope === 'project' ? localTarget(target.dir) : o.localScope);
    const note = local
      ? `${!cfg.exists ? `${target.file} does not exist` : missingSection(target)}: nothing to rewrite. ${localHint(local, 'apply')}`
      : !cfg.exists
        ? target.scope === 'project'
          ? `${target.file} does not exist: nothing to rewrite. Add servers with "claude mcp add --scope project NAME -- COMMAND" (or write the file), then "mcpshare import ${targetFlag(target)}"; or add the registered ones with "mcpshare apply ${targetFlag(target)} --add"`
          : `${target.file} does not exist: nothing to rewrite`
        : `${missingSection(target)}: nothing to rewrite (--add adds the registered servers)`;
    return { ...base, outcomes, note, localServers: local?.names, ok: outcomes.length === 0 };
  }
  if (o.add) {
    if (cfg.exists)
      checkSectionPath(target, cfg.text); // e.g. "projects" that is not an object: reported, never touched
    else if (!existsSync(dirname(target.file)))
      throw configError(`${dirname(target.file)} does not exist, so ${target.file} cannot be created`, target.file, 'unreadable');
  }

  const servers = cfg.servers ?? {};
  const registry = new Map(o.registry.map((e) => [e.name, e]));
  const { outcomes, candidates } = triage(servers, registry, o.names, env, !!o.add);
  const extra = o.add ? additions(servers, registry, o.names) : { outcomes: [], candidates: [] };
  const named = new Set(o.names ?? []);
  const probe = o.probe ?? realProbe;
  const handshake = async (c: Candidate): Promise<ProbeResult> => {
    try {
      return await probe(c.target, o.probeOptions);
    } catch (err) {
      // The probe promises never to throw; if it does anyway, the entry is left, not the whole run.
      return {
        url: c.target.url,
        transport: c.target.transport,
        ok: false,
        diagnosis: 'refused',
        latencyMs: 0,
        message: `the probe failed: ${(err as Error).message}`,
      };
    }
  };
  const [judged, judgedAdds] = await Promise.all([
    Promise.all(
      candidates.map(async (c) => {
        const outcome = judge(c, await handshake(c));
        if (outcome.status === 'switched') outcome.warnings = envWarnings(servers[c.name], c.entry);
        return outcome;
      }),
    ),
    Promise.all(extra.candidates.map(async (c) => judgeAddition(c, await handshake(c), named.has(c.name)))),
  ]);
  const all = order([...outcomes, ...judged, ...extra.outcomes, ...judgedAdds], servers, o.names, o.registry);
  const switching = new Map(
    candidates.filter((c) => judged.find((j) => j.name === c.name)?.status === 'switched').map((c) => [c.name, sharedValue(c.entry, target.dir) as unknown]),
  );
  const adding = new Map(
    extra.candidates
      .filter((c) => judgedAdds.find((j) => j.name === c.name)?.status === 'added')
      .map((c) => [c.name, sharedValue(c.entry, target.dir) as unknown]),
  );
  const ok = (list: ApplyOutcome[]) => !list.some((x) => x.failed);
  const nothingNote = () =>
    !o.add || adding.size || (cfg.exists && cfg.servers)
      ? undefined
      : `${!cfg.exists ? `${target.file} does not exist` : missingSection(target)}, and ${o.registry.length ? 'no registered server could be added' : 'no server is registered with mcpshare'}: nothing was ${cfg.exists ? 'changed' : 'created'}`;

  if (o.dryRun) {
    if (switching.size === 0 && adding.size === 0) return { ...base, outcomes: all, note: nothingNote(), ok: ok(all) };
    const plan = planEdits(cfg.exists ? cfg.text : undefined, target.section, switching, adding);
    // The servers object only (never the rest of ~/.claude.json), every entry's secrets hidden.
    const diff = sectionDiff(cfg.text, plan.text, target.section, cfg.exists ? target.file : '/dev/null', `${target.file} (after mcpshare apply)`);
    return { ...base, outcomes: all, diff, created: !cfg.exists || undefined, ok: ok(all) };
  }
  if (switching.size === 0 && adding.size === 0) return { ...base, outcomes: all, note: nothingNote(), ok: ok(all) };

  return withTargetLock(target, () => {
    // Re-read under the lock: Claude Code may have saved the file while the probes ran.
    const current = readConfigText(target.file);
    const fresh = current === undefined ? {} : (serversOf(target, current) ?? {});
    for (const name of [...switching.keys()]) {
      if (jsonEqual(fresh[name], servers[name])) continue;
      switching.delete(name);
      const i = all.findIndex((x) => x.name === name);
      all[i] = { name, status: 'left', failed: true, reason: 'the entry changed while apply ran; run apply again' };
    }
    for (const name of [...adding.keys()]) {
      if (!Object.prototype.hasOwnProperty.call(fresh, name)) continue;
      adding.delete(name);
      const i = all.findIndex((x) => x.name === name);
      all[i] = { name, status: 'not-added', failed: named.has(name), reason: 'an entry of that name appeared while apply ran; left as it is' };
    }
    if (switching.size === 0 && adding.size === 0) return { ...base, outcomes: all, ok: ok(all) };
    if (current !== undefined && adding.size) checkSectionPath(target, current);
    const created = current === undefined;
    const createdFrom = adding.size ? missingFrom(current, target.section) : undefined;
    const plan = planEdits(current, target.section, switching, adding);
    // When apply creates the file, its "backup" is empty: the record still needs one to sit beside.
    const backup = o.backups.save(target.file, current ?? '', 'backup');
    const record = o.backups.writeRecord({
      version: 1,
      file: target.file,
      section: [...target.section],
      scope: target.scope,
      dir: target.dir,
      projectKey: target.projectKey,
      at: new Date().toISOString(),
      backup,
      ...(created ? { created: true as const } : {}),
      ...(createdFrom !== undefined ? { createdFrom } : {}),
      changes: plan.changes,
    });
    try {
      // A new .mcp.json is for the project (0644, often committed); a new ~/.claude.json will hold OAuth tokens (0600).
      writeConfigText(created ? { realPath: target.file, mode: target.scope === 'project' ? 0o644 : 0o600 } : fileMeta(target.file), plan.text);
    } catch (err) {
      o.backups.removeRecord(record); // nothing was applied, so there is nothing to revert
      throw new Error(`could not write ${target.file}: ${(err as Error).message}; it was left as it was`, { cause: err });
    }
    o.backups.prune(target.file);
    return { ...base, outcomes: all, wrote: true, ...(created ? { created: true, backup: undefined } : { backup }), record, ok: ok(all) };
  });
}

/**
 * A daemon runs with its env file, not with the entry's `env`: say so when the entry set variables
 * the daemon does not have (the stdio entry's env is dropped from the http entry, on purpose).
 */
export function envWarnings(value: unknown, entry: ServerEntry): string[] | undefined {
  const stdio = asStdio(value) as StdioEntry | undefined;
  const keys = Object.keys(stdio?.env ?? {});
  if (!keys.length) return undefined;
  let have: Record<string, string> = {};
  try {
    have = entry.envFile ? readEnvIfExists(entry.envFile) : {};
  } catch {
    // an unreadable env file is the daemon's problem, reported by status
  }
  const missing = keys.filter((k) => !(k in have));
  return missing.length
    ? [`the entry set ${missing.join(', ')}, which the daemon's env file lacks; add them with "mcpshare edit ${entry.name} --env KEY=VALUE"`]
    : undefined;
}

/** Outcomes in config order, then the additions in registry order (named ones in the order given). */
function order(list: ApplyOutcome[], servers: Record<string, unknown>, names?: readonly string[], registry: readonly ServerEntry[] = []): ApplyOutcome[] {
  const keys = names?.length ? [...new Set(names)] : [...new Set([...Object.keys(servers), ...registry.map((e) => e.name)])];
  return keys.map((k) => list.find((x) => x.name === k)!).filter(Boolean);
}
