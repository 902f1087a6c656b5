import { existsSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { ClientTransport, ServerEntry } from '../../registry/registry.js';
import { readEnvIfExists } from '../../registry/secrets.js';
import { shareabilityOf } from '../../registry/shareability.js';
import { clientUrl } from '../../registry/url.js';
import { showCommand, showUrl } from '../../util/redact.js';
import { expandDeep } from '../expand.js';
import { sameServer } from '../match.js';
import type { ClientApplyOutcome, CommonEntry } from './types.js';

/**
 * What apply does with one entry of any client, before any probe (pure): already shared, left
 * alone (and why), or a candidate to switch to a daemon. Unlike Claude Code's apply (which matches
 * by NAME only, see apply.ts), an entry whose name is not registered is matched by its command: the
 * same server configured under another name in another client was registered once, by import
 * --all-clients, under the first name seen.
 */
export interface Endpoint {
  url: string;
  transport: ClientTransport;
}

export type Triage = { outcome: ClientApplyOutcome } | { candidate: ServerEntry; daemonName?: string };

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function loopback(url: string): URL | undefined {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' && LOOPBACK.has(u.hostname) ? u : undefined;
  } catch {
    return undefined;
  }
}

/** A URL that reaches this daemon: its own endpoint, or for a bridge either of /mcp and /sse. */
export function reaches(url: string, reg: ServerEntry): boolean {
  const u = loopback(url);
  if (!u || Number(u.port) !== reg.port) return false;
  return u.pathname === reg.path || (reg.kind === 'bridged' && (u.pathname === '/mcp' || u.pathname === '/sse'));
}

/**
 * The endpoint a client uses for a daemon: the registered one, except that a client without SSE
 * reaches a bridge over /mcp (every bridge serves both). A native daemon that speaks only SSE
 * cannot serve such a client.
 */
export function endpointFor(reg: ServerEntry, clientSse: boolean): Endpoint | { reason: string } {
  if (reg.transport === 'http' || clientSse) return { url: clientUrl(reg), transport: reg.transport };
  if (reg.kind === 'bridged') return { url: `http://localhost:${reg.port}/mcp`, transport: 'http' };
  return { reason: `its daemon speaks only SSE (${clientUrl(reg)}), which this client does not support` };
}

export function triageEntry(name: string, entry: CommonEntry, registry: readonly ServerEntry[], env: NodeJS.ProcessEnv, asked: boolean): Triage {
  const byName = registry.find((r) => r.name === name);
  switch (entry.kind) {
    case 'connect': {
      const reg = registry.find((r) => r.name === entry.server);
      if (reg)
        return {
          outcome: {
            name,
            status: 'already-shared',
            failed: false,
            url: clientUrl(reg),
            daemon: reg.name === name ? undefined : reg.name,
            reason: `relayed by "mcpshare connect ${entry.server}"`,
          },
        };
      return { outcome: { name, status: 'left', failed: asked, reason: `"mcpshare connect ${entry.server}", but no server "${entry.server}" is registered` } };
    }
    case 'remote': {
      const reg = registry.find((r) => reaches(entry.url, r));
      if (reg) return { outcome: { name, status: 'already-shared', failed: false, url: showUrl(entry.url), daemon: reg.name === name ? undefined : reg.name } };
      // A loopback URL at another port for a registered name: a daemon that moved (mcpshare edit --port).
      if (byName && loopback(entry.url) && /\/(mcp|sse)$/.test(loopback(entry.url)!.pathname)) return { candidate: byName };
      return { outcome: { name, status: 'remote', failed: asked, reason: `already a remote server (${showUrl(entry.url)})` } };
    }
    case 'other':
      return { outcome: { name, status: 'unsupported', failed: asked, reason: `${entry.reason}; left as it is` } };
    case 'stdio':
      break;
  }
  const { command, args } = expandDeep({ command: entry.command, args: entry.args }, env).value;
  const verdict = shareabilityOf(command, args);
  if (verdict.verdict === 'per-session') return { outcome: { name, status: 'per-session', failed: asked, reason: verdict.reason } };
  if (byName && sameServer({ command, args }, byName)) return { candidate: byName };
  // Registered under another name: one daemon (a bridge may be registered twice, for /mcp and /sse).
  const same = registry.filter((r) => sameServer({ command, args }, r));
  if (!byName && same.length && same.every((r) => r.port === same[0].port)) {
    const pick = same.find((r) => r.transport === 'http') ?? same[0];
    return { candidate: pick, daemonName: pick.name };
  }
  if (!byName && same.length > 1) {
    return {
      outcome: {
        name,
        status: 'left',
        failed: asked,
        reason: `runs the same server as the registered ${same.map((r) => `"${r.name}"`).join(' and ')}: which one is not clear, so it was left as it is`,
        fix: `name the entry after the one it should use`,
      },
    };
  }
  if (byName) {
    return {
      outcome: {
        name,
        status: 'left',
        failed: asked,
        reason: `this entry runs "${showCommand(command, args)}" but the registered "${name}" runs "${showCommand(byName.command, byName.args)}": not the same server, so it was left as it is`,
        fix: `rename one of them, or point the registered server at this command with "mcpshare edit ${name} -- …"`,
      },
    };
  }
  return {
    outcome: {
      name,
      status: 'not-shared',
      failed: asked,
      reason: verdict.verdict === 'shareable' ? `${verdict.reason}, but not registered with mcpshare` : 'not registered with mcpshare',
      fix:
        verdict.verdict === 'shareable'
          ? 'mcpshare import --client …, then mcpshare start'
          : `if it keeps no per-session state: mcpshare add ${name} -- ${showCommand(command, args)}`,
    },
  };
}

/** The first executable called `name` on PATH. */
export function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      if (existsSync(p) && statSync(p).isFile() && (statSync(p).mode & 0o111) !== 0) return p;
    } catch {
      // unreadable directory: not there
    }
  }
  return undefined;
}

/**
 * `${env:NAME}` (VS Code, Cursor, Windsurf), `{env:NAME}` (opencode) and `$NAME` (Gemini, Qwen) as
 * `${NAME}`, the form expand.ts expands; `${userHome}` and `${workspaceFolder}` filled in. What
 * cannot be known outside the client (`${input:…}`, which VS Code prompts for) is reported.
 */
export function toShellRefs(
  s: string,
  style: 'vscode' | 'opencode' | 'dollar' | 'none',
  ctx: { home: string; dir?: string },
): { value: string; unknown?: string } {
  let v = s;
  if (style === 'vscode') {
    const input = /\$\{input:[^}]*\}/.exec(v);
    if (input) return { value: v, unknown: input[0] };
    v = v.replace(/\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g, '${$1}').replace(/\$\{userHome\}/g, ctx.home);
    if (ctx.dir) v = v.replace(/\$\{workspaceFolder\}/g, ctx.dir);
    const other = /\$\{(workspaceFolder|[a-zA-Z]+:[^}]*)\}/.exec(v);
    if (other) return { value: v, unknown: other[0] };
  } else if (style === 'opencode') {
    v = v.replace(/\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g, '${$1}');
  } else if (style === 'dollar') {
    v = v.replace(/\$([A-Za-z_][A-Za-z0-9_]*)/g, '${$1}');
  }
  return { value: v };
}

/** A stdio entry in one shape, its strings' variable references translated (see toShellRefs). */
export function stdioEntry(
  command: unknown,
  args: unknown,
  env: unknown,
  style: Parameters<typeof toShellRefs>[1],
  ctx: { home: string; dir?: string },
  cwd?: unknown,
): CommonEntry {
  if (typeof command !== 'string' || !command) return { kind: 'other', reason: 'no command' };
  if (args !== undefined && !(Array.isArray(args) && args.every((a) => typeof a === 'string')))
    return { kind: 'other', reason: '"args" is not a list of strings' };
  if (env !== undefined && !(typeof env === 'object' && env !== null && !Array.isArray(env) && Object.values(env).every((x) => typeof x === 'string'))) {
    return { kind: 'other', reason: '"env" is not an object of strings' };
  }
  let unknown: string | undefined;
  const tr = (s: string) => {
    const r = toShellRefs(s, style, ctx);
    unknown ??= r.unknown;
    return r.value;
  };
  const out: CommonEntry = {
    kind: 'stdio',
    command: tr(command),
    args: ((args as string[] | undefined) ?? []).map(tr),
    env: Object.fromEntries(Object.entries((env as Record<string, string> | undefined) ?? {}).map(([k, x]) => [k, tr(x)])),
    ...(typeof cwd === 'string' && cwd ? { cwd: tr(cwd) } : {}),
  };
  return unknown ? { kind: 'other', reason: `uses ${unknown}, which only the client itself can fill in` } : out;
}

/**
 * The variables an entry sets to other values than its daemon's env file has: the same command with
 * another env is another server (a memory server on another file), so apply leaves it.
 */
export function envDiffers(entry: CommonEntry, reg: ServerEntry, env: NodeJS.ProcessEnv): string[] {
  if (entry.kind !== 'stdio' || !Object.keys(entry.env).length) return [];
  let have: Record<string, string> = {};
  try {
    have = reg.envFile ? readEnvIfExists(reg.envFile) : {};
  } catch {
    return []; // an unreadable env file is the daemon's problem, reported by status
  }
  const wanted = expandDeep(entry.env, env).value;
  return Object.keys(wanted).filter((k) => k in have && have[k] !== wanted[k]);
}
