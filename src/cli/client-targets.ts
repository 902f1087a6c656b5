import type { RevertEntryStatus } from '../clients/revert.js';
import {
  CLIENTS,
  clientByName,
  clientContext,
  CLIENT_NAMES,
  isClientName,
  type ClientApplyOutcome,
  type ClientApplyReport,
  type ClientRevertReport,
  type McpClient,
} from '../clients/targets/index.js';
import {
  applyClients,
  importClients,
  listClients,
  revertClients,
  revertEverything,
  type ClientListing,
  type ConfigProblem,
  type ListedStatus,
} from '../clients/targets/run.js';
import { ServerManager } from '../units/manager.js';
import { userPaths } from '../registry/paths.js';
import { McpshareError } from '../errors.js';
import { parseCommandLine } from '../util/args.js';
import { table } from '../util/table.js';
import { APPLY_LABEL, IMPORT_LABEL } from './clients.js';

/**
 * `mcpshare clients`, and `import`/`apply`/`revert` with `--client NAME` or `--all-clients`: the
 * CLI side of the client modules (src/clients/targets). Plain `apply`/`revert`/`import` and
 * `--client claude-code` stay in clients.ts, exactly as they were.
 */
const out = (s: string) => process.stdout.write(s);
const NAMES = CLIENT_NAMES.join(', ');

export const clientOptions = {
  client: { type: 'string' },
  'all-clients': { type: 'boolean' },
} as const;

/** The clients a command names: one with --client, every one with --all-clients. */
export function chosenClients(v: { client?: string; 'all-clients'?: boolean }): McpClient[] {
  if (v.client !== undefined && v['all-clients']) throw new McpshareError('usage', 'give --client NAME or --all-clients, not both');
  if (v['all-clients']) return [...CLIENTS];
  if (!isClientName(v.client ?? '')) throw new McpshareError('usage', `unknown client "${v.client}"; the clients are: ${NAMES}`);
  return [clientByName(v.client!)];
}

function noClaudeScopes(v: { local?: string; user?: boolean }, what: string): void {
  if (v.local !== undefined) throw new McpshareError('usage', `--local is Claude Code's: use it with --client claude-code, not ${what}`);
}

const printProblems = (problems: ConfigProblem[]) => {
  for (const p of problems) out(`error: ${p.file}: ${p.error}\n`);
};

// ---------------------------------------------------------------------------------------------
// mcpshare clients

export const clientsUsage = `Usage: mcpshare clients [--project DIR] [--all] [--json]

Lists the MCP clients on this machine (${NAMES}), the config files mcpshare
knows for each, and every MCP server in them:
  shared        goes through a shared daemon already
  registered    registered with mcpshare: "apply --client NAME" switches it when its daemon is up
  importable    a known stateless server: "import --client NAME" registers it
  unknown       a stdio server mcpshare does not know: share it by hand ("mcpshare add") if it
                keeps no per-session state
  per-session   keeps per-session state (a browser, a REPL): stays as it is
  remote        a remote server that is not an mcpshare daemon
A client counts as found when its config file or folder exists or its command is on PATH.

  --project DIR   also the configs of the project in DIR (.cursor/mcp.json, .vscode/mcp.json, ...)
  --all           also the clients that were not found
  --json          the listing as JSON (every client, found or not)
`;

const STATUS_LABEL: Record<ListedStatus, string> = {
  shared: 'shared',
  registered: 'registered',
  importable: 'importable',
  unknown: 'unknown',
  'per-session': 'per-session',
  remote: 'remote',
  left: 'left',
  unsupported: 'unsupported',
};

export function renderClients(list: ClientListing[], showAll: boolean): string {
  let s = '';
  const found = list.filter((c) => c.installed);
  for (const c of showAll ? list : found) {
    s += `${c.label} (${c.client})${c.installed ? '' : ': not found'}${c.usesShared ? ' — uses shared daemons' : ''}\n`;
    for (const cfg of c.configs) {
      if (!cfg.exists) {
        if (showAll) s += `  ${cfg.file}: none\n`;
        continue;
      }
      if (cfg.error) {
        s += `  ${cfg.file}: ${cfg.error}\n`;
        continue;
      }
      s += `  ${cfg.file}${cfg.scope === 'user' ? '' : ` (${cfg.scope})`}${cfg.servers.length ? '' : ': no MCP servers'}\n`;
      if (cfg.servers.length) {
        s += table([
          ['    NAME', 'STATUS', 'SERVER'],
          ...cfg.servers.map((x) => [`    ${x.name}`, STATUS_LABEL[x.status], `${x.what}${x.daemon ? ` (as "${x.daemon}")` : ''}`]),
        ]);
      }
    }
  }
  if (!found.length) s += 'No MCP client found.\n';
  const missing = list.filter((c) => !c.installed).map((c) => c.client);
  if (!showAll && missing.length) s += `Not found: ${missing.join(', ')}\n`;
  return s;
}

export async function clientsCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, { project: { type: 'string' }, all: { type: 'boolean' }, json: { type: 'boolean' } }, false);
  const env = process.env;
  const list = listClients(CLIENTS, clientContext(env), new ServerManager().list(), values.project);
  if (values.json) out(JSON.stringify(list, null, 2) + '\n');
  else out(renderClients(list, !!values.all));
  return 0;
}

// ---------------------------------------------------------------------------------------------
// apply --client / --all-clients

function detail(x: ClientApplyOutcome): string {
  const as = x.daemon ? ` (the registered "${x.daemon}")` : '';
  if (x.status === 'switched' || x.status === 'added') return `→ ${x.url}${as}`;
  if (x.status === 'already-shared') return `${x.url ?? ''}${as}${x.reason ? ` (${x.reason})` : ''}`;
  return `${x.reason ?? ''}${x.fix ? ` — fix: ${x.fix}` : ''}`;
}

export function renderApply(r: ClientApplyReport, undo: string): string {
  let s = `${clientByName(r.client).label}: ${r.file}${r.scope === 'user' ? '' : ` (${r.scope})`}\n`;
  if (r.note) s += `${r.note}\n`;
  if (r.outcomes.length) {
    const label = (x: ClientApplyOutcome) =>
      r.dryRun && x.status === 'switched' ? 'would switch' : r.dryRun && x.status === 'added' ? 'would add' : APPLY_LABEL[x.status];
    s += table([['NAME', 'RESULT', 'DETAIL'], ...r.outcomes.map((x) => [x.name, label(x), detail(x)])]);
  }
  for (const x of r.outcomes) for (const w of x.warnings ?? []) s += `warning: ${x.name}: ${w}\n`;
  if (r.dryRun) s += `${r.created ? `${r.file} would be created\n` : ''}dry run: nothing was written\n`;
  else if (r.wrote && r.created) s += `created ${r.file}\nundo with: ${undo}\n`;
  else if (r.wrote) s += `wrote ${r.file}\nbackup: ${r.backup}\nundo with: ${undo}\n`;
  else if (r.exists && !r.note) s += `nothing to change in ${r.file}\n`;
  return s;
}

export async function applyForClients(
  values: { client?: string; 'all-clients'?: boolean; project?: string; local?: string; user?: boolean; add?: boolean; 'dry-run'?: boolean; json?: boolean },
  names: string[],
): Promise<number> {
  const clients = chosenClients(values);
  noClaudeScopes(values, '--client/--all-clients');
  const env = process.env;
  const result = await applyClients(clients, clientContext(env), {
    registry: new ServerManager().list(),
    names,
    dryRun: values['dry-run'],
    add: values.add,
    stateDir: userPaths(env).stateDir,
    env,
    project: values.project,
    onlyInstalled: !!values['all-clients'],
  });
  const ok = result.problems.length === 0 && result.reports.every((r) => r.ok);
  if (values.json) {
    out(JSON.stringify({ ...result, ok }, null, 2) + '\n');
    return ok ? 0 : 1;
  }
  const undo = values['all-clients']
    ? 'mcpshare revert --all-clients'
    : `mcpshare revert --client ${clients[0].name}${values.project !== undefined ? ` --project ${values.project}` : ''}`;
  result.reports.forEach((r, i) => out(`${i ? '\n' : ''}${renderApply(r, undo)}`));
  for (const s of result.skipped) out(`${s.client}: ${s.reason}\n`);
  printProblems(result.problems);
  if (!result.reports.length && !result.skipped.length && !result.problems.length) out('no MCP client found to apply to\n');
  return ok ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// revert --client / --all-clients

const REVERT_LABEL: Record<RevertEntryStatus, string> = {
  restored: 'restored',
  deleted: 'deleted (apply added it)',
  'already-original': 'already as before',
  'changed-since': 'changed since apply: left',
  'removed-since': 'removed since apply: left',
};

function renderRevert(r: ClientRevertReport): string {
  let s = `${clientByName(r.client).label}: ${r.file}\n`;
  if (r.outcomes.length && (r.result === 'reverted' || r.result === 'exact'))
    s += table([['NAME', 'RESULT'], ...r.outcomes.map((x) => [x.name, REVERT_LABEL[x.status]])]);
  s += `${r.message}\n`;
  if (r.savedBefore) s += `the file as it was before this revert: ${r.savedBefore}\n`;
  return s;
}

export async function revertForClients(values: {
  client?: string;
  'all-clients'?: boolean;
  project?: string;
  local?: string;
  user?: boolean;
  all?: boolean;
  'dry-run'?: boolean;
  json?: boolean;
}): Promise<number> {
  noClaudeScopes(values, '--client/--all-clients');
  const env = process.env;
  const stateDir = userPaths(env).stateDir;
  let reports: ClientRevertReport[];
  if (values['all-clients']) {
    if (values.client !== undefined) throw new McpshareError('usage', 'give --client NAME or --all-clients, not both');
    if (values.project !== undefined)
      throw new McpshareError('usage', '--all-clients reverts every apply on record, of every project: give no --project with it');
    reports = await revertEverything({ stateDir, dryRun: values['dry-run'] });
  } else {
    reports = await revertClients(chosenClients(values), clientContext(env), { stateDir, dryRun: values['dry-run'], all: values.all, project: values.project });
  }
  if (values.json) out(JSON.stringify(reports, null, 2) + '\n');
  else if (!reports.length) out('nothing to revert: no apply is on record that is not reverted already\n');
  else reports.forEach((r, i) => out(`${i ? '\n' : ''}${renderRevert(r)}${values['dry-run'] ? 'dry run: nothing was written\n' : ''}`));
  return reports.every((r) => r.ok) ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// import --client / --all-clients

export async function importForClients(
  values: {
    client?: string;
    'all-clients'?: boolean;
    project?: string;
    local?: string;
    user?: boolean;
    'dry-run'?: boolean;
    all?: boolean;
    'help-check'?: boolean;
    'no-help-check'?: boolean;
    json?: boolean;
  },
  names: string[],
): Promise<number> {
  const clients = chosenClients(values);
  noClaudeScopes(values, '--client/--all-clients');
  const env = process.env;
  const { reports, problems } = await importClients(clients, clientContext(env), {
    manager: new ServerManager(),
    project: values.project,
    names,
    dryRun: values['dry-run'],
    all: values.all,
    helpCheck: !!values['help-check'] && !values['no-help-check'],
    env,
  });
  const ok = !problems.length && reports.every((r) => r.ok);
  if (values.json) {
    out(JSON.stringify({ reports, problems, ok }, null, 2) + '\n');
    return ok ? 0 : 1;
  }
  for (const [i, r] of reports.entries()) {
    out(`${i ? '\n' : ''}${clientByName(r.client).label}: ${r.file}${r.scope === 'user' ? '' : ` (${r.scope})`}\n`);
    if (!r.outcomes.length) out('no MCP servers\n');
    else
      out(
        table([
          ['NAME', 'RESULT', 'DETAIL'],
          ...r.outcomes.map((x) => [
            x.name,
            IMPORT_LABEL[x.status],
            x.status === 'already-registered' ? `${x.reason}${x.url ? ` on ${x.url}` : ''}` : `${x.reason}${x.fix ? ` — fix: ${x.fix}` : ''}`,
          ]),
        ]),
      );
    for (const x of r.outcomes) for (const w of x.warnings ?? []) out(`warning: ${x.name}: ${w}\n`);
  }
  printProblems(problems);
  if (!reports.length && !problems.length) out('no client config with MCP servers found\n');
  if (values['dry-run']) out('dry run: nothing was registered\n');
  const fresh = reports.flatMap((r) => r.outcomes.filter((x) => x.status === 'registered').map((x) => x.name));
  if (fresh.length)
    out(`next: mcpshare start ${fresh.join(' ')} && mcpshare apply ${values['all-clients'] ? '--all-clients' : `--client ${clients[0].name}`}\n`);
  return ok ? 0 : 1;
}
