import { readEnvIfExists } from '../registry/secrets.js';
import { shareabilityOf } from '../registry/shareability.js';
import type { ClientTransport, ServerEntry } from '../registry/registry.js';
import { probe as realProbe } from '../health/probe.js';
import type { ProbeOptions, ProbeResult, ProbeTarget } from '../health/types.js';
import { clientUrl } from '../units/daemon.js';
import { BackupStore, type EntryChange } from './backups.js';
import {
  asRemote,
  asStdio,
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
import { applySplices, jsonEqual, locate, parseJson, renderValueAt, type Splice } from './json-text.js';
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
  | 'unsupported';

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

/** An entry that will be switched if its daemon passes the handshake. */
export interface Candidate {
  name: string;
  entry: ServerEntry;
  target: ProbeTarget;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** The config value apply writes for a registered server. */
export function sharedValue(entry: ServerEntry): { type: ClientTransport; url: string } {
  return { type: entry.transport, url: clientUrl(entry) };
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
 * must then exist). Pure: the config's servers and the registry in, decisions out.
 */
export function triage(
  servers: Record<string, unknown>,
  registry: ReadonlyMap<string, ServerEntry>,
  names: readonly string[] | undefined,
  env: NodeJS.ProcessEnv,
): { outcomes: ApplyOutcome[]; candidates: Candidate[] } {
  const outcomes: ApplyOutcome[] = [];
  const candidates: Candidate[] = [];
  const named = new Set(names ?? []);
  for (const name of named.size ? named : Object.keys(servers)) {
    const asked = named.has(name);
    const reg = registry.get(name);
    if (!Object.prototype.hasOwnProperty.call(servers, name)) {
      outcomes.push({ name, status: 'not-in-config', failed: true, reason: 'no entry of that name in this config' });
      continue;
    }
    const value = servers[name];
    const remote = asRemote(value);
    if (remote) {
      if (reg && pointsAt(remote, reg)) outcomes.push({ name, status: 'already-shared', failed: false, url: showUrl(remote.url), transport: remote.type as ClientTransport });
      else if (reg && looksLikeOurs(remote)) candidates.push({ name, entry: reg, target: { url: clientUrl(reg), transport: reg.transport } });
      else if (reg) outcomes.push({ name, status: 'left', failed: asked, reason: `a remote entry (${showUrl(remote.url)}) that is not the registered daemon ${clientUrl(reg)}; left as it is` });
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
        fix: verdict.verdict === 'shareable' ? 'mcpshare import, then mcpshare start' : `if it keeps no per-session state: mcpshare add ${name} -- ${showCommand(command, args)}`,
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
 * The config text with each switched entry's value replaced, and what changed (for revert).
 * Everything else keeps its bytes. The result is checked to parse to exactly the intended data.
 */
export function planEdits(text: string, section: readonly string[], values: ReadonlyMap<string, unknown>): { text: string; changes: EntryChange[] } {
  const data = parseJson(text) as Record<string, unknown>;
  const servers = section.reduce<Record<string, unknown>>((node, key) => node[key] as Record<string, unknown>, data);
  const splices: Splice[] = [];
  const changes: EntryChange[] = [];
  for (const [name, after] of values) {
    const member = locate(text, [...section, name]);
    if (!member) throw new Error(`internal: entry "${name}" not found in the config text`);
    splices.push({ start: member.valueStart, end: member.valueEnd, text: renderValueAt(text, member, after) });
    changes.push({ name, before: servers[name], beforeText: text.slice(member.valueStart, member.valueEnd), after });
  }
  const out = applySplices(text, splices);
  const expected = structuredClone(data);
  const expectedServers = section.reduce<Record<string, unknown>>((node, key) => node[key] as Record<string, unknown>, expected);
  for (const [name, after] of values) expectedServers[name] = after;
  if (!jsonEqual(parseJson(out), expected)) throw new Error('internal: the edited config does not parse to the intended content; nothing was written');
  return { text: out, changes };
}

// ---------------------------------------------------------------------------------------------
// IO

export interface ApplyOptions {
  target: ConfigTarget;
  registry: readonly ServerEntry[];
  /** Only these entries (each must exist in the config). */
  names?: readonly string[];
  dryRun?: boolean;
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
  /** The file was rewritten. */
  wrote: boolean;
  /** Full copy of the file before this apply, and the record revert uses. */
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
  if (!cfg.exists || !cfg.servers) {
    // Never creates the file or the nesting: apply only replaces entries that are there.
    const outcomes = (o.names ?? []).map((name): ApplyOutcome => ({ name, status: 'not-in-config', failed: true, reason: 'no entry of that name in this config' }));
    const local = localStdioServers(target, o.localScope === undefined && target.scope === 'project' ? localTarget(target.dir) : o.localScope);
    const note = local
      ? `${!cfg.exists ? `${target.file} does not exist` : missingSection(target)}: nothing to rewrite. ${localHint(local, 'apply')}`
      : !cfg.exists
        ? target.scope === 'project'
          ? `${target.file} does not exist: nothing to rewrite. Add servers with "claude mcp add --scope project NAME -- COMMAND" (or write the file), then "mcpshare import ${targetFlag(target)}"`
          : `${target.file} does not exist: nothing to rewrite`
        : `${missingSection(target)}: nothing to rewrite`;
    return { ...base, outcomes, note, localServers: local?.names, ok: outcomes.length === 0 };
  }

  const registry = new Map(o.registry.map((e) => [e.name, e]));
  const { outcomes, candidates } = triage(cfg.servers, registry, o.names, env);
  const probe = o.probe ?? realProbe;
  const judged = await Promise.all(
    candidates.map(async (c) => {
      let result: ProbeResult;
      try {
        result = await probe(c.target, o.probeOptions);
      } catch (err) {
        // The probe promises never to throw; if it does anyway, the entry is left, not the whole run.
        result = { url: c.target.url, transport: c.target.transport, ok: false, diagnosis: 'refused', latencyMs: 0, message: `the probe failed: ${(err as Error).message}` };
      }
      const outcome = judge(c, result);
      if (outcome.status === 'switched') outcome.warnings = envWarnings(cfg.servers![c.name], c.entry);
      return outcome;
    }),
  );
  const all = order([...outcomes, ...judged], cfg.servers, o.names);
  const switching = new Map(candidates.filter((c) => judged.find((j) => j.name === c.name)?.status === 'switched').map((c) => [c.name, sharedValue(c.entry) as unknown]));
  const ok = (list: ApplyOutcome[]) => !list.some((x) => x.failed);

  if (o.dryRun) {
    if (switching.size === 0) return { ...base, outcomes: all, ok: ok(all) };
    const plan = planEdits(cfg.text, target.section, switching);
    // The servers object only (never the rest of ~/.claude.json), every entry's secrets hidden.
    const diff = sectionDiff(cfg.text, plan.text, target.section, target.file, `${target.file} (after mcpshare apply)`);
    return { ...base, outcomes: all, diff, ok: ok(all) };
  }
  if (switching.size === 0) return { ...base, outcomes: all, ok: ok(all) };

  return withTargetLock(target, () => {
    // Re-read under the lock: Claude Code may have saved the file while the probes ran.
    const text = readConfigText(target.file) ?? '';
    const fresh = serversOf(target, text) ?? {};
    for (const name of [...switching.keys()]) {
      if (jsonEqual(fresh[name], cfg.servers![name])) continue;
      switching.delete(name);
      const i = all.findIndex((x) => x.name === name);
      all[i] = { name, status: 'left', failed: true, reason: 'the entry changed while apply ran; run apply again' };
    }
    if (switching.size === 0) return { ...base, outcomes: all, ok: ok(all) };
    const plan = planEdits(text, target.section, switching);
    const backup = o.backups.save(target.file, text, 'backup');
    const record = o.backups.writeRecord({ version: 1, file: target.file, section: [...target.section], at: new Date().toISOString(), backup, changes: plan.changes });
    try {
      writeConfigText(fileMeta(target.file), plan.text);
    } catch (err) {
      o.backups.removeRecord(record); // nothing was applied, so there is nothing to revert
      throw new Error(`could not write ${target.file}: ${(err as Error).message}; it was left as it was`);
    }
    o.backups.prune(target.file);
    return { ...base, outcomes: all, wrote: true, backup, record, ok: ok(all) };
  });
}

/**
 * A daemon runs with its env file, not with the entry's `env`: say so when the entry set variables
 * the daemon does not have (the stdio entry's env is dropped from the http entry, on purpose).
 */
function envWarnings(value: unknown, entry: ServerEntry): string[] | undefined {
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
  return missing.length ? [`the entry set ${missing.join(', ')}, which the daemon's env file lacks; add them with "mcpshare edit ${entry.name} --env KEY=VALUE"`] : undefined;
}

/** Outcomes in config order (named ones in the order given). */
function order(list: ApplyOutcome[], servers: Record<string, unknown>, names?: readonly string[]): ApplyOutcome[] {
  const keys = names?.length ? [...new Set(names)] : Object.keys(servers);
  return keys.map((k) => list.find((x) => x.name === k)!).filter(Boolean);
}
