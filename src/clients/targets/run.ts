import { existsSync } from 'node:fs';
import type { ServerEntry } from '../../registry/registry.js';
import type { HelpOptions } from '../../registry/shareability.js';
import { clientUrl } from '../../registry/url.js';
import type { ServerManager } from '../../units/manager.js';
import { showCommand, showUrl } from '../../util/redact.js';
import type { ConfigTarget } from '../claude-config.js';
import { expandDeep } from '../expand.js';
import { importOne, type ImportOutcome } from '../import.js';
import { revertAll } from '../revert.js';
import { ClientConfigError, revertClient } from './generic.js';
import { allClientRecords } from './records.js';
import { triageEntry } from './switch.js';
import type {
  ClientApplyReport,
  ClientConfig,
  ClientContext,
  ClientDetection,
  ClientName,
  ClientRevertReport,
  CommonEntry,
  McpClient,
  SwitchOptions,
} from './types.js';

/**
 * What the CLI's `clients`, `import/apply/revert --client NAME | --all-clients` and the tray's
 * "Connect a client" do with the client modules: which configs of a client a command touches, and
 * one report per config. A config that cannot be read is reported, never fatal for the others.
 */

/** A config "is there" when its file exists (for Claude Code's local scope: when the project has servers there). */
function present(client: McpClient, c: ClientConfig): boolean {
  if (!existsSync(c.file)) return false;
  if (c.scope !== 'local') return true;
  try {
    return client.read(c).length > 0;
  } catch {
    return true; // broken: let the command report it
  }
}

/**
 * The configs a command works on: those that are there; with `add`, when none is, the first one
 * (which apply creates). Additions go to one config only (the first that is there), so a server is
 * not added twice to one client (a project's .mcp.json and its local scope).
 */
export function targetConfigs(client: McpClient, ctx: ClientContext, project?: string): ClientConfig[] {
  const all = client.configs(ctx, project);
  const there = all.filter((c) => present(client, c));
  return there;
}

export type ConfigProblem = { client: ClientName; file: string; scope: ClientConfig['scope']; error: string; position?: { line: number; column: number } };

export function problemOf(c: ClientConfig, err: unknown): ConfigProblem {
  return {
    client: c.client,
    file: c.file,
    scope: c.scope,
    error: (err as Error).message,
    position: err instanceof ClientConfigError ? err.position : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// mcpshare clients

export type ListedStatus = 'shared' | 'registered' | 'importable' | 'unknown' | 'per-session' | 'remote' | 'left' | 'unsupported';

export interface ListedServer {
  name: string;
  kind: CommonEntry['kind'];
  status: ListedStatus;
  /** The command (secret-looking args hidden) or URL (tokens hidden). */
  what: string;
  /** The registered server it is (or would be switched to), when it differs from its name. */
  daemon?: string;
  detail?: string;
}

export interface ListedConfig {
  file: string;
  scope: ClientConfig['scope'];
  exists: boolean;
  servers: ListedServer[];
  error?: string;
  position?: { line: number; column: number };
}

export interface ClientListing extends ClientDetection {
  configs: ListedConfig[];
  /** At least one of its servers goes through a shared daemon. */
  usesShared: boolean;
}

function listed(name: string, e: CommonEntry, registry: readonly ServerEntry[], env: NodeJS.ProcessEnv): ListedServer {
  const what =
    e.kind === 'stdio'
      ? showCommand(e.command, e.args)
      : e.kind === 'remote'
        ? showUrl(e.url)
        : e.kind === 'connect'
          ? `mcpshare connect ${e.server}`
          : e.reason;
  const t = triageEntry(name, e, registry, env, false);
  if ('candidate' in t)
    return {
      name,
      kind: e.kind,
      status: 'registered',
      what,
      daemon: t.daemonName,
      detail: `registered: apply switches it to ${clientUrl(t.candidate)} when its daemon is up`,
    };
  const o = t.outcome;
  const status: ListedStatus =
    o.status === 'already-shared'
      ? 'shared'
      : o.status === 'not-shared'
        ? o.fix?.startsWith('mcpshare import')
          ? 'importable'
          : 'unknown'
        : o.status === 'per-session' || o.status === 'remote' || o.status === 'left' || o.status === 'unsupported'
          ? o.status
          : 'unsupported';
  return { name, kind: e.kind, status, what, daemon: o.daemon, detail: o.reason };
}

export function listClients(clients: readonly McpClient[], ctx: ClientContext, registry: readonly ServerEntry[], project?: string): ClientListing[] {
  return clients.map((client) => {
    const d = client.detect(ctx);
    const configs = [...client.configs(ctx), ...(project !== undefined ? client.configs(ctx, project) : [])].map((c): ListedConfig => {
      const exists = existsSync(c.file);
      if (!exists) return { file: c.file, scope: c.scope, exists, servers: [] };
      try {
        return { file: c.file, scope: c.scope, exists, servers: client.read(c).map((e) => listed(e.name, e.entry, registry, ctx.env)) };
      } catch (err) {
        const p = problemOf(c, err);
        return { file: c.file, scope: c.scope, exists, servers: [], error: p.error, position: p.position };
      }
    });
    return { ...d, configs, usesShared: configs.some((c) => c.servers.some((s) => s.status === 'shared')) };
  });
}

// ---------------------------------------------------------------------------------------------
// apply / revert

export interface ApplyClientsResult {
  reports: ClientApplyReport[];
  problems: ConfigProblem[];
  /** Installed clients with no config to work on (and, without --add, nothing to switch). */
  skipped: { client: ClientName; reason: string }[];
}

export async function applyClients(
  clients: readonly McpClient[],
  ctx: ClientContext,
  o: SwitchOptions & { project?: string; onlyInstalled?: boolean },
): Promise<ApplyClientsResult> {
  const out: ApplyClientsResult = { reports: [], problems: [], skipped: [] };
  for (const client of clients) {
    if (o.onlyInstalled && !client.detect(ctx).installed) continue;
    const all = client.configs(ctx, o.project);
    if (!all.length) {
      out.skipped.push({
        client: client.name,
        reason: o.project !== undefined ? `${client.label} has no project config` : `${client.label} has no user config`,
      });
      continue;
    }
    const there = targetConfigs(client, ctx, o.project);
    const work = there.length ? there : o.add ? [all[0]] : [];
    if (!work.length) {
      out.skipped.push({
        client: client.name,
        reason: `no config of ${client.label} found (${all.map((c) => c.file).join(', ')}); --add creates ${all[0].file}`,
      });
      continue;
    }
    for (const [i, c] of work.entries()) {
      try {
        out.reports.push(await client.apply(c, { ...o, add: o.add && i === 0 }));
      } catch (err) {
        if (!(err instanceof Error)) throw err;
        out.problems.push(problemOf(c, err));
      }
    }
  }
  return out;
}

/** Reverts the newest apply (with `all`: every apply) of each config of these clients that has one on record. */
export async function revertClients(
  clients: readonly McpClient[],
  ctx: ClientContext,
  o: { stateDir: string; dryRun?: boolean; all?: boolean; project?: string },
): Promise<ClientRevertReport[]> {
  const reports: ClientRevertReport[] = [];
  for (const client of clients) {
    for (const c of client.configs(ctx, o.project)) {
      try {
        const r = await client.revert(c, o);
        if (r.result !== 'nothing') reports.push(r);
      } catch (err) {
        reports.push({
          client: client.name,
          file: c.file,
          scope: c.scope,
          result: 'error',
          outcomes: [],
          wrote: false,
          message: (err as Error).message,
          ok: false,
        });
      }
    }
  }
  return reports;
}

/**
 * `revert --all-clients`: every apply on record of every client, wherever it was (any project):
 * Claude Code's through its own revert --all, the others' from their records, newest first.
 */
export async function revertEverything(o: { stateDir: string; dryRun?: boolean }): Promise<ClientRevertReport[]> {
  const { BackupStore } = await import('../backups.js');
  const claude = await revertAll({ backups: BackupStore.under(o.stateDir), dryRun: o.dryRun });
  const reports: ClientRevertReport[] = claude.map((r) => ({ client: 'claude-code', ...r }));
  const seen = new Set<string>();
  for (const { record } of allClientRecords(o.stateDir)) {
    const key = JSON.stringify([record.file, record.section]);
    if (seen.has(key)) continue;
    seen.add(key);
    const c: ClientConfig = { client: record.client, scope: record.scope, file: record.file, format: record.format, section: record.section, dir: record.dir };
    try {
      reports.push(await revertClient(c, { stateDir: o.stateDir, dryRun: o.dryRun, all: true }));
    } catch (err) {
      reports.push({
        client: record.client,
        file: record.file,
        scope: record.scope,
        result: 'error',
        outcomes: [],
        wrote: false,
        message: (err as Error).message,
        ok: false,
      });
    }
  }
  return reports;
}

// ---------------------------------------------------------------------------------------------
// import

export interface ClientImportReport {
  client: ClientName;
  file: string;
  scope: ClientConfig['scope'];
  outcomes: (ImportOutcome & { sameAs?: { name: string; client: ClientName; file: string } })[];
  ok: boolean;
}

export interface ImportClientsOptions {
  manager: ServerManager;
  project?: string;
  names?: readonly string[];
  dryRun?: boolean;
  all?: boolean;
  helpCheck?: boolean;
  helpOptions?: HelpOptions;
  env?: NodeJS.ProcessEnv;
}

/** The entry as Claude Code would have it, which import.ts reads; or why it is not a server import understands. */
function claudeShaped(e: CommonEntry): unknown {
  if (e.kind === 'stdio') return { command: e.command, args: e.args, ...(Object.keys(e.env).length ? { env: e.env } : {}) };
  if (e.kind === 'remote') return { type: e.transport === 'sse' ? 'sse' : 'http', url: e.url };
  return undefined;
}

/** What makes two entries the same server: command, args and env, after variable expansion. */
function sameKey(e: CommonEntry, env: NodeJS.ProcessEnv): string | undefined {
  if (e.kind !== 'stdio') return undefined;
  const x = expandDeep({ command: e.command, args: e.args, env: e.env }, env).value;
  return JSON.stringify([x.command, x.args, Object.entries(x.env).sort(([a], [b]) => a.localeCompare(b))]);
}

/**
 * Registers the shareable stdio servers of these clients' configs (the user's, and with `project`
 * that project's), each server ONCE: an entry with the same command, args and env as one seen
 * before (in any client) is reported as the same server, not registered again.
 */
export async function importClients(
  clients: readonly McpClient[],
  ctx: ClientContext,
  o: ImportClientsOptions,
): Promise<{ reports: ClientImportReport[]; problems: ConfigProblem[] }> {
  const env = o.env ?? ctx.env;
  const reports: ClientImportReport[] = [];
  const problems: ConfigProblem[] = [];
  const seen = new Map<string, { name: string; client: ClientName; file: string; outcome: ImportOutcome }>();
  const named = new Set(o.names ?? []);
  for (const client of clients) {
    const configs = [...client.configs(ctx), ...(o.project !== undefined ? client.configs(ctx, o.project) : [])].filter((c) => existsSync(c.file));
    for (const c of configs) {
      let entries;
      try {
        entries = client.read(c);
      } catch (err) {
        problems.push(problemOf(c, err));
        continue;
      }
      const target: ConfigTarget = c.target ?? { scope: c.scope === 'project' ? 'project' : 'user', file: c.file, section: c.section, dir: c.dir, lock: false };
      const outcomes: ClientImportReport['outcomes'] = [];
      for (const e of entries) {
        if (named.size && !named.has(e.name)) continue;
        const key = sameKey(e.entry, env);
        const first = key ? seen.get(key) : undefined;
        if (first && ['registered', 'would-register', 'already-registered'].includes(first.outcome.status)) {
          outcomes.push({
            name: e.name,
            status: first.outcome.status === 'would-register' ? 'would-register' : 'already-registered',
            failed: false,
            kind: first.outcome.kind,
            url: first.outcome.url,
            reason: `the same server as "${first.name}" in ${first.file} (${first.client}): registered once`,
            sameAs: { name: first.name, client: first.client, file: first.file },
          });
          continue;
        }
        const sameName = [...seen.values()].find((x) => x.name === e.name && ['registered', 'would-register', 'already-registered'].includes(x.outcome.status));
        let outcome: ImportOutcome;
        if (sameName && key) {
          // The name is taken by a server with the same command but other env (another data file, another account).
          outcome = {
            name: e.name,
            status: 'name-clash',
            failed: true,
            reason: `"${e.name}" was registered from ${sameName.file} (${sameName.client}) with other env values; rename this entry to register it as a server of its own`,
          };
        } else if (e.entry.kind === 'connect')
          outcome = { name: e.name, status: 'remote', failed: false, reason: `already relayed to the daemon "${e.entry.server}" by mcpshare connect` };
        else if (e.entry.kind === 'other') outcome = { name: e.name, status: 'unsupported', failed: false, reason: `${e.entry.reason}; left alone` };
        else {
          // An entry's own working directory counts as a project directory for relative paths.
          const t = e.entry.kind === 'stdio' && e.entry.cwd ? { ...target, scope: 'project' as const, dir: e.entry.cwd } : target;
          outcome = await importOne(
            e.name,
            claudeShaped(e.entry),
            { target: t, manager: o.manager, dryRun: o.dryRun, all: o.all, helpCheck: o.helpCheck, helpOptions: o.helpOptions, env },
            env,
          );
        }
        outcomes.push(outcome);
        if (key && !seen.has(key)) seen.set(key, { name: e.name, client: client.name, file: c.file, outcome });
        else if (key && !['registered', 'would-register', 'already-registered'].includes(seen.get(key)!.outcome.status))
          seen.set(key, { name: e.name, client: client.name, file: c.file, outcome });
      }
      reports.push({ client: client.name, file: c.file, scope: c.scope, outcomes, ok: !outcomes.some((x) => x.failed) });
    }
  }
  return { reports, problems };
}
