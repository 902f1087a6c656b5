import { isAbsolute } from 'node:path';
import type { KnownServer } from '../registry/known-servers.js';
import { validateName } from '../registry/names.js';
import { allocatePort } from '../registry/ports.js';
import type { ShareMode } from '../util/share-mode.js';
import { shareOf, type ServerEntry } from '../registry/registry.js';
import { helpFindings, nativeFlagWords, shareabilityOf, type HelpFindings, type HelpOptions } from '../registry/shareability.js';
import { clientUrl } from '../registry/url.js';
import type { ServerManager } from '../units/manager.js';
import {
  asRemote,
  asStdio,
  localHint,
  localStdioServers,
  localTarget,
  missingSection,
  readConfig,
  shellWord,
  targetFlag,
  type ConfigTarget,
} from './claude-config.js';
import { expandDeep } from './expand.js';
import { sameServer } from './match.js';
import { findArgSecrets, redactArgs, showCommand, showUrl } from '../util/redact.js';

/**
 * `mcpshare import`: register a config's shareable stdio servers with `ServerManager.add`, under
 * the config's own names (so `apply` finds them by name later): import → start → apply.
 *
 * - known stateless servers are registered: natively when known-servers.ts says they can serve HTTP
 *   themselves (transport and port flags added), bridged otherwise;
 * - known stateful servers stay per-session, with the reason;
 * - unknown servers are only listed (with the `add` command to share them by hand, and, only when
 *   asked with `helpCheck`, what their `--help` says), unless `all` is set: whether a server keeps
 *   per-session state cannot be read from the outside, so sharing one is the user's decision.
 * The entry's `env` goes to the server's 0600 env file, `${VAR}` expanded as Claude Code would.
 * The command line goes into the daemon's unit file (systemd unit, LaunchAgent plist), which others
 * can read: an entry whose command line carries a secret (after `${VAR}` expansion) is not
 * registered (status 'secret-in-args'); the secret belongs in `env`.
 *
 * Nothing from the config is ever run in a dry run, and by default not at all: a project's
 * `.mcp.json` is untrusted input (Claude Code asks before starting its servers), so the `--help`
 * check is opt-in, and even then whyNotRun() refuses shells, inline code and package downloaders.
 */
export type ImportStatus =
  | 'registered'
  | 'would-register'
  | 'already-registered'
  /** The name is registered for a different server. */
  | 'name-clash'
  | 'per-session'
  | 'unknown'
  /** Already an http/sse entry. */
  | 'remote'
  /** Uses `${VAR}` that is not set here: nothing registered. */
  | 'missing-variable'
  /** Its command line carries a secret, which would land in a world-readable unit file: not registered. */
  | 'secret-in-args'
  /** `add` refused it (command not found, invalid name, …). */
  | 'failed'
  | 'unsupported';

export interface ImportOutcome {
  name: string;
  status: ImportStatus;
  /** A server that should have been registered was not (exit status 1). */
  failed: boolean;
  reason: string;
  kind?: 'bridged' | 'native';
  /** Bridged servers: how its process is shared (global, project, session). */
  share?: ShareMode;
  url?: string;
  /** The command line as registered (or as it would be), variables expanded, secret-looking args hidden. */
  command?: string[];
  /** Names of the variables copied into the env file. */
  envKeys?: string[];
  missing?: string[];
  /** secret-in-args: what on the command line is a secret (`the value of --api-key`, …), never the value. */
  secrets?: string[];
  help?: HelpFindings;
  /** How to share it by hand. */
  hint?: string;
  /** What to change so that it can be imported. */
  fix?: string;
  warnings?: string[];
}

export interface ImportOptions {
  target: ConfigTarget;
  manager: ServerManager;
  /** Only these entries. */
  names?: readonly string[];
  dryRun?: boolean;
  /** Register unknown servers too (bridged). */
  all?: boolean;
  /**
   * Run `COMMAND ARGS --help` of unknown servers to see whether they serve HTTP themselves (default
   * false: that runs the config's commands). Never in a dry run, and never for what whyNotRun() refuses.
   */
  helpCheck?: boolean;
  helpOptions?: HelpOptions;
  /** The environment `${VAR}` references are expanded from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Injectable for tests of the surrounding logic; the real one by default. */
  help?: typeof helpFindings;
  /**
   * Project scope: the same project's local scope, named in the note when the project has no
   * `.mcp.json` servers but it has stdio servers (default: localTarget(dir) from process.env; null: do not look).
   */
  localScope?: ConfigTarget | null;
}

export interface ImportReport {
  file: string;
  /** Which config: project (.mcp.json), user or local (~/.claude.json). */
  scope: ConfigTarget['scope'];
  /** Local scope: the project's key in ~/.claude.json. */
  projectKey?: string;
  exists: boolean;
  dryRun: boolean;
  outcomes: ImportOutcome[];
  note?: string;
  /** Project scope without servers: the stdio servers of the same project's local scope (use --local). */
  localServers?: string[];
  ok: boolean;
}

export async function importConfig(o: ImportOptions): Promise<ImportReport> {
  const { target } = o;
  const env = o.env ?? process.env;
  const cfg = readConfig(target);
  const base = { file: target.file, scope: target.scope, projectKey: target.projectKey, exists: cfg.exists, dryRun: !!o.dryRun };
  if (!cfg.exists || !cfg.servers) {
    const local = localStdioServers(target, o.localScope === undefined && target.scope === 'project' ? localTarget(target.dir) : o.localScope);
    const why = cfg.exists ? `${missingSection(target)}: nothing to import` : `${target.file} does not exist: nothing to import`;
    return { ...base, outcomes: [], note: local ? `${why}. ${localHint(local, 'import')}` : why, localServers: local?.names, ok: !o.names?.length };
  }
  const servers = cfg.servers;
  const names = o.names?.length ? o.names : Object.keys(servers);
  const outcomes: ImportOutcome[] = [];
  // Registration is sequential: each add allocates a port the next one must not take.
  for (const name of names) {
    if (!Object.prototype.hasOwnProperty.call(servers, name)) {
      outcomes.push({ name, status: 'failed', failed: true, reason: `no entry "${name}" in ${target.file}` });
      continue;
    }
    outcomes.push(await importOne(name, servers[name], o, env));
  }
  return { ...base, outcomes, ok: !outcomes.some((x) => x.failed) };
}

export async function importOne(name: string, value: unknown, o: ImportOptions, env: NodeJS.ProcessEnv): Promise<ImportOutcome> {
  const { manager, target } = o;
  const remote = asRemote(value);
  if (remote) return { name, status: 'remote', failed: false, reason: `already a remote server (${remote.type} ${showUrl(remote.url)}), nothing to import` };
  const stdio = asStdio(value);
  if (!stdio) return { name, status: 'unsupported', failed: false, reason: 'not a stdio entry mcpshare understands; left alone' };

  const expanded = expandDeep({ command: stdio.command, args: stdio.args ?? [], env: stdio.env ?? {} }, env);
  const { command, args, env: vars } = expanded.value;
  const line = [command, ...redactArgs(args)]; // for display only
  const envKeys = Object.keys(vars);
  const verdict = shareabilityOf(command, args);
  if (verdict.verdict === 'per-session') return { name, status: 'per-session', failed: false, reason: verdict.reason, command: line };
  if (expanded.missing.length) {
    const list = expanded.missing.map((v) => `\${${v}}`).join(', ');
    return {
      name,
      status: 'missing-variable',
      failed: true,
      missing: expanded.missing,
      reason: `uses ${list}, which ${expanded.missing.length === 1 ? 'is' : 'are'} not set in this environment; nothing was registered — set ${expanded.missing.join(', ')} and import again`,
    };
  }
  // Claude Code starts a project's stdio servers (.mcp.json or local scope) in the session's directory: keep that for relative paths.
  const cwd = target.scope !== 'user' && usesRelativePaths(command, args) ? target.dir : undefined;

  const existing = manager.registry.get(name);
  if (existing) {
    if (sameServer({ command, args }, existing) && (cwd === undefined || existing.cwd === cwd)) {
      const inUnit = findArgSecrets(existing.args);
      const warnings = inUnit.length
        ? [
            `its registered command line carries a secret (${inUnit.join(', ')}), which is in its unit file for others to read: move it to its env file ("mcpshare edit ${name} --env KEY=VALUE") if the server reads it from there, and drop it from the command line ("mcpshare edit ${name} -- …")`,
          ]
        : undefined;
      return {
        name,
        status: 'already-registered',
        failed: false,
        reason: `already registered (${existing.kind})`,
        kind: existing.kind,
        url: clientUrl(existing),
        command: [existing.command, ...redactArgs(existing.args)],
        warnings,
      };
    }
    return {
      name,
      status: 'name-clash',
      failed: true,
      command: line,
      reason: `"${name}" is already registered for another server ("${showCommand(existing.command, existing.args)}"${existing.cwd ? ` in ${existing.cwd}` : ''}); rename this entry, or "mcpshare remove ${name}" first`,
    };
  }
  try {
    validateName(name);
  } catch (err) {
    return {
      name,
      status: 'failed',
      failed: true,
      command: line,
      reason: `${(err as Error).message}; "apply" switches entries by name, so rename the entry in ${target.file} first`,
    };
  }

  const secrets = findArgSecrets(args);
  if (secrets.length) {
    // Refused rather than rewritten: a `${VAR}` in args does not help (it is expanded here, and the
    // unit would hold the value), and units do not expand variables from the env file.
    return {
      name,
      status: 'secret-in-args',
      // Exit 1 when it would have been registered; an unknown server is not registered without --all anyway.
      failed: verdict.verdict === 'shareable' || !!o.all,
      command: line,
      envKeys,
      secrets,
      reason: `its command line carries a secret (${secrets.join(', ')}), and a daemon's command line is written to its unit file, which other users can read; nothing was registered`,
      fix:
        `put the secret in the entry's "env" (import copies "env" into a 0600 env file only the daemon reads) and take it off "args": enough for a server that reads it from an environment variable` +
        `${secrets.some((x) => /\((?:-e|--env)[ =]/.test(x)) ? ` (for "-e NAME=VALUE" keep just "-e NAME")` : ''}; ` +
        `a "\${VAR}" reference in "args" is not enough, since import expands it and the unit would hold the value. Then import again`,
    };
  }

  let help: HelpFindings | undefined;
  if (verdict.verdict === 'unknown') {
    if (o.helpCheck && o.dryRun)
      help = { ran: false, refused: true, flags: [], transports: [], native: false, message: 'its --help was not run: nothing is run in a dry run' };
    else if (o.helpCheck) help = await (o.help ?? helpFindings)(command, args, { env: { ...env, ...vars }, cwd: cwd ?? target.dir, ...o.helpOptions });
    const hint = addCommand(name, line, envKeys, cwd);
    if (!o.all) {
      return {
        name,
        status: 'unknown',
        failed: false,
        command: line,
        envKeys,
        help,
        hint,
        reason: `${verdict.reason}${help ? `; ${help.message}` : ''}. Not registered: share it by hand with "${hint}"${envKeys.length ? ' (filling in the --env values)' : ''}, or import with --all (it is then shared by every session, global mode; add --share project or session to "mcpshare add" if it scopes itself by roots or keeps per-session state)`,
      };
    }
  }

  const native = verdict.known?.native;
  const kind = native ? 'native' : 'bridged';
  const what = verdict.verdict === 'unknown' ? 'not a server mcpshare knows; registered because of --all' : verdict.reason;
  const share = native ? undefined : verdict.share;
  const sharing = share ? `; sharing: ${share}, ${verdict.shareReason}` : '';
  if (o.dryRun) {
    return {
      name,
      status: 'would-register',
      failed: false,
      kind,
      share,
      command: native ? withNativeFlags(redactArgs(args), native, 0, command) : line,
      envKeys,
      help,
      reason: `${what}: would register it ${kind} on a free port${sharing}`,
    };
  }
  try {
    // A native server's port must be on its own command line, so it is chosen here, not by add.
    const port = native ? await allocatePort(new Set(manager.list().map((e) => e.port))) : undefined;
    const { entry, warnings } = await manager.add({
      name,
      command,
      args: native && port ? withNativeFlags(args, native, port) : args,
      port,
      native: native?.transport,
      path: native?.path,
      env: envKeys.length ? vars : undefined,
      cwd,
    });
    return registered(entry, what, envKeys, warnings, help, sharing);
  } catch (err) {
    return { name, status: 'failed', failed: true, command: line, reason: `could not register it: ${(err as Error).message}` };
  }
}

function registered(entry: ServerEntry, what: string, envKeys: string[], warnings: string[], help?: HelpFindings, sharing = ''): ImportOutcome {
  return {
    name: entry.name,
    status: 'registered',
    failed: false,
    kind: entry.kind,
    ...(entry.kind === 'bridged' ? { share: shareOf(entry) } : {}),
    url: clientUrl(entry),
    command: [entry.command, ...redactArgs(entry.args)],
    envKeys,
    help,
    warnings: warnings.length ? warnings : undefined,
    reason: `${what}: registered ${entry.kind} on ${clientUrl(entry)}${envKeys.length ? ` (${envKeys.join(', ')} in ${entry.envFile})` : ''}${sharing}`,
  };
}

/**
 * The args with the native transport and port flags set (replacing any the entry already had),
 * e.g. `mongodb-mcp-server --transport http --httpPort 8010`. With `command` given, the whole line.
 */
export function withNativeFlags(args: readonly string[], native: NonNullable<KnownServer['native']>, port: number, command?: string): string[] {
  const [tFlag, ...tValue] = native.transportFlag.split(' ');
  let out = dropFlag(args, tFlag, tValue.length > 0);
  if (native.portFlag) out = dropFlag(out, native.portFlag, true);
  const added = nativeFlagWords(native, port || 'PORT');
  return command === undefined ? [...out, ...added] : [command, ...out, ...added];
}

function dropFlag(args: readonly string[], flag: string, takesValue: boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) {
      if (takesValue) i++;
      continue;
    }
    if (args[i].startsWith(`${flag}=`)) continue;
    out.push(args[i]);
  }
  return out;
}

/** `./server.js`, `..`, `--root=./data`: paths that mean something only in the project directory. */
export function usesRelativePaths(command: string, args: readonly string[]): boolean {
  if (command.includes('/') && !isAbsolute(command)) return true;
  return args.some((a) => {
    const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : a;
    return v === '.' || v === '..' || v.startsWith('./') || v.startsWith('../');
  });
}

/** `mcpshare add NAME [--env KEY=…] -- COMMAND ARGS`, quoted for a POSIX shell (values never shown). */
function addCommand(name: string, line: string[], envKeys: string[], cwd?: string): string {
  return ['mcpshare add', shellWord(name), ...(cwd ? ['--cwd', shellWord(cwd)] : []), ...envKeys.map((k) => `--env ${k}=…`), '--', ...line.map(shellWord)].join(
    ' ',
  );
}

/** The next commands to run after an import (for people). */
export function nextSteps(report: ImportReport, target: ConfigTarget): string | undefined {
  const fresh = report.outcomes.filter((x) => x.status === 'registered').map((x) => x.name);
  if (!fresh.length) return undefined;
  return `next: mcpshare start ${fresh.join(' ')} && mcpshare apply ${targetFlag(target)}`;
}
