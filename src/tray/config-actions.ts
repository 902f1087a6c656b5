import type { ApplyReport } from '../clients/apply.js';
import type { ServerManager } from '../units/manager.js';
import { userPaths } from '../units/paths.js';
import type { TrayConfigActions } from './app.js';

/**
 * The tray's client-config and report actions: the same functions `mcpshare apply --add`,
 * `mcpshare revert` and `mcpshare doctor` run, loaded on first click (they are a third of the
 * tray's memory if loaded at start, and most sessions never click them).
 */
export function trayConfigActions(manager: ServerManager, env: NodeJS.ProcessEnv = process.env): TrayConfigActions {
  const store = async () => (await import('../clients/backups.js')).BackupStore.under(userPaths(env).stateDir);
  let revertable = false;

  const apply = async (target: import('../clients/claude-config.js').ConfigTarget): Promise<string> => {
    const { applyConfig } = await import('../clients/apply.js');
    const report = await applyConfig({ target, registry: manager.list(), backups: await store(), env, add: true } as Parameters<typeof applyConfig>[0]);
    if (report.wrote) revertable = true;
    return describeApply(report);
  };

  return {
    async writeProject(dir) {
      const { projectTarget } = await import('../clients/claude-config.js');
      return apply(projectTarget(dir));
    },
    async useForAllProjects() {
      const { userTarget } = await import('../clients/claude-config.js');
      return apply(userTarget(env));
    },
    async revertLast() {
      const { revertNewest } = (await import('../clients/revert.js')) as unknown as { revertNewest?: (o: { backups: unknown; env: NodeJS.ProcessEnv }) => Promise<{ message: string; file?: string } | undefined> };
      if (!revertNewest) return 'revert is not available in this build';
      const r = await revertNewest({ backups: await store(), env });
      revertable = false;
      return r ? `${r.file ? `${r.file}: ` : ''}${r.message}` : 'nothing to revert: every config change on record is undone already';
    },
    canRevert: () => revertable,
    async memoryReport() {
      const [{ doctor }, { renderDoctor }] = await Promise.all([import('../doctor/doctor.js'), import('../cli/doctor.js')]);
      return renderDoctor(await doctor());
    },
  };
}

/** One notification's worth: what was shared, what was left and why. */
export function describeApply(r: ApplyReport): string {
  const shared = r.outcomes.filter((o) => o.status === 'switched' || (o.status as string) === 'added').map((o) => o.name);
  const already = r.outcomes.filter((o) => o.status === 'already-shared').map((o) => o.name);
  const left = r.outcomes.filter((o) => o.failed || o.status === 'left' || (o.status as string) === 'not-added').map((o) => `${o.name} (${o.reason ?? o.status})`);
  const parts: string[] = [];
  if (r.wrote) parts.push(`wrote ${r.file}`);
  if (shared.length) parts.push(`shared now: ${shared.join(', ')}`);
  if (already.length) parts.push(`already shared: ${already.join(', ')}`);
  if (left.length) parts.push(`left as they were: ${left.join('; ')}`);
  if (!parts.length) parts.push(r.note ?? `nothing to change in ${r.file}`);
  return parts.join('. ');
}
