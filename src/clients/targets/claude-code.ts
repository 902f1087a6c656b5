import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { applyConfig } from '../apply.js';
import { BackupStore } from '../backups.js';
import { asRemote, asStdio, localTarget, projectTarget, readConfig, userTarget, type ConfigTarget } from '../claude-config.js';
import { revertConfig } from '../revert.js';
import { connectTarget } from './claude-desktop.js';
import { onPath } from './switch.js';
import type { ClientApplyReport, ClientConfig, ClientContext, ClientEntry, ClientRevertReport, CommonEntry, McpClient } from './types.js';

/**
 * Claude Code behind the common face. Its configs, apply, revert and import are the ones `mcpshare
 * apply/revert/import` always had (claude-config.ts, apply.ts, revert.ts, import.ts, their
 * backups): this module only maps them. User scope: ~/.claude.json `mcpServers` (or
 * $CLAUDE_CONFIG_DIR); a project: DIR/.mcp.json and DIR's local scope in ~/.claude.json.
 */
function configOf(target: ConfigTarget, home: string): ClientConfig {
  return { client: 'claude-code', scope: target.scope, file: target.file, format: 'json', section: [...target.section], dir: target.dir, home, target };
}

export function claudeEntry(value: unknown): CommonEntry {
  const remote = asRemote(value);
  if (remote) return { kind: 'remote', url: remote.url, transport: remote.type === 'sse' ? 'sse' : 'http' };
  const stdio = asStdio(value);
  if (!stdio) return { kind: 'other', reason: 'not a stdio or http/sse entry mcpshare understands' };
  const server = connectTarget(stdio.command, stdio.args ?? []);
  if (server) return { kind: 'connect', server };
  return { kind: 'stdio', command: stdio.command, args: stdio.args ?? [], env: stdio.env ?? {} };
}

const envOf = (ctx: ClientContext): NodeJS.ProcessEnv => ({ ...ctx.env, HOME: ctx.home });

export const claudeCode: McpClient = {
  name: 'claude-code',
  label: 'Claude Code',

  detect(ctx) {
    const evidence: string[] = [];
    const binary = onPath('claude', ctx.env);
    if (binary) evidence.push(`claude on PATH (${binary})`);
    const user = userTarget(envOf(ctx)).file;
    if (existsSync(user)) evidence.push(user);
    const dir = join(ctx.home, '.claude');
    if (existsSync(dir)) evidence.push(dir);
    return { client: 'claude-code', label: 'Claude Code', installed: evidence.length > 0, binary, evidence };
  },

  configs(ctx, project) {
    if (project === undefined) return [configOf(userTarget(envOf(ctx)), ctx.home)];
    return [configOf(projectTarget(project), ctx.home), configOf(localTarget(project, envOf(ctx)), ctx.home)];
  },

  read(c): ClientEntry[] {
    const cfg = readConfig(c.target!);
    return Object.entries(cfg.servers ?? {}).map(([name, raw]) => ({ name, raw, entry: claudeEntry(raw) }));
  },

  async apply(c, o): Promise<ClientApplyReport> {
    const report = await applyConfig({
      target: c.target!,
      registry: o.registry,
      names: o.names,
      dryRun: o.dryRun,
      add: o.add,
      backups: BackupStore.under(o.stateDir),
      probe: o.probe,
      probeOptions: o.probeOptions,
      env: o.env,
      localScope: null,
    });
    return { client: 'claude-code', ...report };
  },

  async revert(c, o): Promise<ClientRevertReport> {
    const backups = BackupStore.under(o.stateDir);
    let r = await revertConfig({ target: c.target!, backups, dryRun: o.dryRun });
    let applies = r.result === 'nothing' ? 0 : 1;
    const outcomes = [...r.outcomes];
    // --all: every apply of this config, newest first (each revertConfig undoes one).
    while (o.all && !o.dryRun && r.ok && r.result === 'reverted' && backups.latestUnreverted(c.file, c.section)) {
      r = await revertConfig({ target: c.target!, backups });
      outcomes.push(...r.outcomes);
      applies++;
    }
    return { client: 'claude-code', ...r, result: r.result, outcomes, applies };
  },
};
