import { applyConfig, type ApplyOutcome, type ApplyReport } from '../clients/apply.js';
import { BackupStore } from '../clients/backups.js';
import { describeTarget, localTarget, projectTarget, targetFlag, userTarget, type ConfigTarget } from '../clients/claude-config.js';
import { importConfig, nextSteps, type ImportOutcome } from '../clients/import.js';
import { revertAll, revertConfig, type RevertEntryStatus, type RevertReport } from '../clients/revert.js';
import { ServerManager } from '../units/manager.js';
import { userPaths } from '../registry/paths.js';
import { parseCommandLine } from '../util/args.js';
import { McpshareError } from '../errors.js';
import { table } from '../util/table.js';

/** `apply`, `revert`, `import`: the client-config side of the CLI. Logic lives in src/clients/. */

const scopeOptions = {
  project: { type: 'string' },
  local: { type: 'string' },
  user: { type: 'boolean' },
  json: { type: 'boolean' },
  // Other MCP clients (client-targets.ts, loaded only when asked for).
  client: { type: 'string' },
  'all-clients': { type: 'boolean' },
} as const;

/** `--client NAME` (other than claude-code) or `--all-clients`: the client modules' side (client-targets.ts). */
const otherClients = (v: { client?: string; 'all-clients'?: boolean }) => !!v['all-clients'] || (v.client !== undefined && v.client !== 'claude-code');

function targetOf(v: { project?: string; local?: string; user?: boolean }): ConfigTarget {
  const given = [v.project !== undefined && '--project', v.local !== undefined && '--local', v.user && '--user'].filter(Boolean);
  if (given.length > 1) throw new McpshareError('usage', `give only one of --project DIR, --local [DIR] and --user (got ${given.join(' and ')})`);
  if (v.user) return userTarget();
  if (v.local !== undefined) return localTarget(v.local || process.cwd());
  return projectTarget(v.project ?? process.cwd());
}

const pathLike = (word: string) => word === '.' || word === '..' || word.includes('/') || word.includes('\\');

/**
 * `--local [DIR]`: node's parseArgs has no options with an optional value, so the DIR is attached
 * here (`--local=DIR`; a bare `--local` becomes `--local=`, the current directory). When NAMEs may
 * follow, the next word is the DIR only if it looks like a path (has a "/", or is "." or ".."):
 * `apply --local memory` applies the entry "memory" of the current directory's local scope.
 */
export function attachLocalDir(argv: readonly string[], namesFollow: boolean): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (word !== '--local') {
      out.push(word);
      continue;
    }
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('-') && (!namesFollow || pathLike(next))) {
      out.push(`--local=${next}`);
      i++;
    } else out.push('--local=');
  }
  return out;
}

const backups = () => BackupStore.under(userPaths().stateDir);
const unique = (names: string[]) => [...new Set(names)];
const out = (s: string) => process.stdout.write(s);

const SCOPES = `  --project DIR     the project's .mcp.json, and nothing else (default: the current directory)
  --local [DIR]     the project's local-scope servers: projects[DIR].mcpServers in ~/.claude.json
                    (default: the current directory; in a git repository Claude Code keys them
                    by the repository's root, and so does mcpshare)
  --user            the user-scope servers: mcpServers in ~/.claude.json
                    ($CLAUDE_CONFIG_DIR/.claude.json when that is set)`;

const SCOPE_NOTE = `Where Claude Code keeps servers: a plain "claude mcp add NAME -- CMD" puts them in the LOCAL
scope (yours only, one project), "-s project" in DIR/.mcp.json, "-s user" in the user scope.
Local-scope servers are seen only with --local: --project DIR reads DIR/.mcp.json alone.`;

const CLIENT_FLAGS = `Other MCP clients (see "mcpshare clients"):
  --client NAME     that client's configs: claude-code (the default: everything above),
                    claude-desktop, cursor, vscode, windsurf, zed, codex, gemini, qwen, opencode,
                    copilot; its user config, or with --project DIR that project's
  --all-clients     every client found on this machine (Claude Code: its user scope, or with
                    --project DIR the project's .mcp.json and local scope)`;

export const applyUsage = `Usage: mcpshare apply [--project DIR | --local [DIR] | --user] [--client NAME | --all-clients] [--add] [--dry-run] [--json] [NAME...]

Points a Claude Code config at the shared daemons: each registered server's entry keeps its NAME
(so tool names and permission rules stay the same) and becomes
{"type": "http", "url": "http://localhost:PORT/mcp"} (or "sse" and /sse). Only a server whose
daemon passes the MCP handshake right now is switched; the others are left with the reason.
Stateful and unregistered servers stay as they are, and so does every other key of the file.

${SCOPES}
  --add             also add each registered server that has no entry of its name (whose
                    daemon passes the handshake now), creating the servers object, or the
                    project's .mcp.json, when missing; one that is down is listed as not added
  --dry-run         show the diff of the servers (every entry's secrets redacted; nothing
                    else of the file is shown) and write nothing
  --json            the report as JSON
  NAME...           only these entries (with --add: or registered servers to add; with --local
                    before them, write a DIR with a "/": ./DIR)

${SCOPE_NOTE}

${CLIENT_FLAGS}
Each client's entry keeps its NAME and gets that client's remote shape (Cursor {"url"}, VS Code
{"type": "http", "url"}, Windsurf {"serverUrl"}, Gemini/Qwen {"httpUrl"}, Codex url = …, opencode
{"type": "remote", "url"}, Copilot {"type": "http", "url"}); Claude Desktop, which runs stdio
servers only, gets {"command": NODE, "args": [MCPSHARE, "connect", NAME]}. An entry whose name is
not registered is matched by its command. Comments and layout of JSONC and TOML files are kept.

The file is written atomically with its mode kept; a timestamped copy is kept under
~/.local/state/mcpshare/backups/ (0600) and "mcpshare revert" undoes the change. A config that is
not valid JSON is reported and never overwritten. Usual path: import, start, apply.
Exit status 1 when a registered server's entry was left because its daemon failed the handshake,
or a NAME given is not shared afterwards; servers that stay per-session or unregistered do not
count, and neither does a server --add did not add because its daemon is down (unless named).
`;

/** How each apply outcome reads in a table; per-client apply (client-targets.ts) uses it too. */
export const APPLY_LABEL: Record<ApplyOutcome['status'], string> = {
  switched: 'switched',
  'already-shared': 'already shared',
  left: 'left',
  'per-session': 'per-session',
  'not-shared': 'not shared',
  remote: 'remote',
  'not-in-config': 'not in config',
  unsupported: 'unsupported',
  added: 'added',
  'not-added': 'not added',
};

function applyDetail(x: ApplyOutcome): string {
  if (x.status === 'switched' || x.status === 'added') return `→ ${x.url}${x.server ? ` (${x.server.name} ${x.server.version})` : ''}`;
  if (x.status === 'already-shared') return `${x.url ?? ''}${x.reason ? ` (${x.reason})` : ''}`;
  return `${x.reason ?? ''}${x.fix ? ` — fix: ${x.fix}` : ''}`;
}

function printApply(r: ApplyReport, target: ConfigTarget): void {
  out(`${describeTarget(target)}\n`);
  if (r.note) out(`${r.note}\n`);
  if (r.outcomes.length) {
    const label = (x: ApplyOutcome) =>
      r.dryRun && x.status === 'switched' ? 'would switch' : r.dryRun && x.status === 'added' ? 'would add' : APPLY_LABEL[x.status];
    out(table([['NAME', 'RESULT', 'DETAIL'], ...r.outcomes.map((x) => [x.name, label(x), applyDetail(x)])]));
  }
  for (const x of r.outcomes) for (const w of x.warnings ?? []) out(`warning: ${x.name}: ${w}\n`);
  if (r.dryRun) out(`${r.diff ?? ''}${r.created ? `${r.file} would be created\n` : ''}dry run: nothing was written\n`);
  else if (r.wrote && r.created) out(`created ${r.file}\nundo with: mcpshare revert ${targetFlag(target)}\n`);
  else if (r.wrote) out(`wrote ${r.file}\nbackup: ${r.backup}\nundo with: mcpshare revert ${targetFlag(target)}\n`);
  else if (r.exists && !r.note) out(`nothing to change in ${r.file}\n`);
}

export async function applyCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(attachLocalDir(argv, true), { ...scopeOptions, 'dry-run': { type: 'boolean' }, add: { type: 'boolean' } });
  if (otherClients(values)) return (await import('./client-targets.js')).applyForClients(values, unique(positionals));
  const target = targetOf(values);
  const report = await applyConfig({
    target,
    registry: new ServerManager().list(),
    names: unique(positionals),
    dryRun: values['dry-run'],
    add: values.add,
    backups: backups(),
  });
  if (values.json) out(JSON.stringify(report, null, 2) + '\n');
  else printApply(report, target);
  return report.ok ? 0 : 1;
}

export const revertUsage = `Usage: mcpshare revert [--project DIR | --local [DIR] | --user | --all] [--client NAME | --all-clients] [--dry-run] [--json]

Undoes the newest "mcpshare apply" of that config: every entry that still holds what apply wrote
gets its original value back, and an entry apply --add added is deleted again (a .mcp.json it
created is deleted when nothing else is left in it); entries changed since (by you or Claude
Code) are left and named. Each revert undoes one apply, newest first; the user scope and each
project's local scope are reverted separately, though they share ~/.claude.json. A project's
.mcp.json that no longer parses is saved aside and replaced by the full backup taken before the
apply. A ~/.claude.json that no longer parses is left as it is (exit status 1): its backup
predates everything Claude Code saved since, so revert shows where it is broken and the "cp"
command that restores the backup.

${SCOPES}
  --all             every apply on record that is not reverted yet, of every config and scope,
                    newest first (one report per config; exit status 1 if any failed)
  --dry-run         show what would change (the servers only, secrets redacted); write nothing
  --json            the report as JSON (with --all: a list of reports)

${CLIENT_FLAGS}
  (--all-clients reverts every apply on record of every client, in every project; with --client,
  --all reverts every apply of that client's configs.) For other clients, a file that is still as
  apply left it gets back the exact bytes it had; one changed since is reverted entry by entry.
`;

const REVERT_LABEL: Record<RevertEntryStatus, string> = {
  restored: 'restored',
  deleted: 'deleted (apply added it)',
  'already-original': 'already as before',
  'changed-since': 'changed since apply: left',
  'removed-since': 'removed since apply: left',
};

function printRevert(r: RevertReport, target: ConfigTarget, dryRun: boolean): void {
  out(`${describeTarget(target)}\n`);
  if (r.outcomes.length && r.result === 'reverted') out(table([['NAME', 'RESULT'], ...r.outcomes.map((x) => [x.name, REVERT_LABEL[x.status]])]));
  if (r.diff) out(r.diff);
  out(`${r.message}\n`);
  if (r.savedBefore) out(`the file as it was before this revert: ${r.savedBefore}\n`);
  if (r.backup && r.result === 'reverted' && !r.created) out(`full backup from before the apply: ${r.backup}\n`);
  if (dryRun) out('dry run: nothing was written\n');
}

export async function revertCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(
    attachLocalDir(argv, false),
    { ...scopeOptions, 'dry-run': { type: 'boolean' }, all: { type: 'boolean' } },
    false,
  );
  void positionals;
  if (otherClients(values)) return (await import('./client-targets.js')).revertForClients(values);
  const dryRun = values['dry-run'];
  if (values.all) {
    const given = [values.project !== undefined && '--project', values.local !== undefined && '--local', values.user && '--user'].filter(Boolean);
    if (given.length) throw new McpshareError('usage', `--all reverts every config: give no ${given.join(' or ')} with it`);
    const reports = await revertAll({ backups: backups(), dryRun });
    if (values.json) out(JSON.stringify(reports, null, 2) + '\n');
    else if (!reports.length) out('nothing to revert: no apply is on record that is not reverted already\n');
    else
      reports.forEach((r, i) => {
        if (i) out('\n');
        printRevert(r, targetOfRecordReport(r), !!dryRun);
      });
    return reports.every((r) => r.ok) ? 0 : 1;
  }
  const target = targetOf(values);
  const r = await revertConfig({ target, backups: backups(), dryRun });
  if (values.json) {
    out(JSON.stringify(r, null, 2) + '\n');
    return r.ok ? 0 : 1;
  }
  printRevert(r, target, !!dryRun);
  return r.ok ? 0 : 1;
}

/** The config a report of revert --all is about, for its heading. */
function targetOfRecordReport(r: RevertReport): ConfigTarget {
  const scope = r.scope ?? 'project';
  const section = scope === 'local' && r.projectKey ? ['projects', r.projectKey, 'mcpServers'] : ['mcpServers'];
  return { scope, file: r.file, section, projectKey: r.projectKey, lock: scope !== 'project' };
}

export const importUsage = `Usage: mcpshare import [--project DIR | --local [DIR] | --user] [--client NAME | --all-clients] [--dry-run] [--all] [--help-check] [--json] [NAME...]

Reads the stdio servers of a Claude Code config and registers the shareable ones under the same
names ("mcpshare add"), so the usual path is: import, "mcpshare start --all", "mcpshare apply".

  known stateless servers   registered (natively with their transport and port flags when they
                            can serve HTTP themselves, else behind the bridge)
  known stateful servers    stay per-session (a browser, a REPL, an interactive login), reason shown
  unknown servers           listed with the "mcpshare add" command to share them by hand;
                            --all registers them too (bridged)

An entry's "env" is copied into ~/.config/mcp/NAME.env (0600); \${VAR} and \${VAR:-default} are
expanded from this environment, and an entry using an unset variable is not registered.
The command line goes into the daemon's unit file, which other users can read: an entry whose
args carry a secret (--api-key VALUE, an Authorization header, -e NAME=VALUE, a password or token
in a URL) is left, not registered; move the secret into its "env" and import again.

Import never runs anything from the config unless asked: a project's .mcp.json may come from
anyone (Claude Code asks before starting its servers). With --help-check it runs an unknown
server's "COMMAND ARGS --help" to see whether it can serve HTTP itself, but never in a dry run,
never a shell given a command string (sh -c), inline code (node -e, python -c, deno eval, ...),
or a launcher that would download and run a package or image (npx, bunx, uvx, pnpm dlx,
docker run, ...): the report says when and why it was not run.

${SCOPES}
  --dry-run         show what would be registered and register nothing
  --all             register unknown servers too
  --help-check      run unknown servers' "COMMAND ARGS --help" (see above; off by default;
                    --no-help-check is still accepted and changes nothing)
  --json            the report as JSON
  NAME...           only these entries (with --local before them, write a DIR with a "/": ./DIR)

${SCOPE_NOTE}
When DIR has no .mcp.json but local-scope servers, import (and apply) say so.

${CLIENT_FLAGS}
One server configured the same way (command, args and env) in several clients is registered once,
under the first name seen.
Exit status 1 when a server that import would register was not: an unset variable, a secret on
its command line, a name clash, or "mcpshare add" refused it.
`;

/** How each import outcome reads in the table (the per-client import uses the same words). */
export const IMPORT_LABEL: Record<ImportOutcome['status'], string> = {
  registered: 'registered',
  'would-register': 'would register',
  'already-registered': 'already registered',
  'name-clash': 'name clash',
  'per-session': 'per-session',
  unknown: 'unknown',
  remote: 'remote',
  'missing-variable': 'missing variable',
  'secret-in-args': 'left',
  failed: 'failed',
  unsupported: 'unsupported',
};

export async function importCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(attachLocalDir(argv, true), {
    ...scopeOptions,
    'dry-run': { type: 'boolean' },
    all: { type: 'boolean' },
    'help-check': { type: 'boolean' },
    'no-help-check': { type: 'boolean' }, // the old opt-out: the check is off unless asked for now
  });
  if (otherClients(values)) return (await import('./client-targets.js')).importForClients(values, unique(positionals));
  const target = targetOf(values);
  const report = await importConfig({
    target,
    manager: new ServerManager(),
    names: unique(positionals),
    dryRun: values['dry-run'],
    all: values.all,
    helpCheck: !!values['help-check'] && !values['no-help-check'],
  });
  if (values.json) {
    out(JSON.stringify(report, null, 2) + '\n');
    return report.ok ? 0 : 1;
  }
  out(`${describeTarget(target)}\n`);
  if (report.note) out(`${report.note}\n`);
  if (report.outcomes.length) {
    out(
      table([
        ['NAME', 'RESULT', 'DETAIL'],
        ...report.outcomes.map((x) => [
          x.name,
          IMPORT_LABEL[x.status],
          x.status === 'already-registered' ? `${x.reason} on ${x.url}` : `${x.reason}${x.fix ? ` — fix: ${x.fix}` : ''}`,
        ]),
      ]),
    );
  }
  for (const x of report.outcomes) for (const w of x.warnings ?? []) out(`warning: ${x.name}: ${w}\n`);
  if (report.dryRun) out('dry run: nothing was registered\n');
  const next = nextSteps(report, target);
  if (next) out(`${next}\n`);
  return report.ok ? 0 : 1;
}
