import type { ApplyReport } from '../clients/apply.js';
import type { ServerManager } from '../units/manager.js';
import { BackupStore } from '../clients/backups.js';
import { userPaths } from '../registry/paths.js';
import { join } from 'node:path';
import type { TrayConfigActions } from './app.js';
import type { TrayClient } from './menu.js';

/**
 * The tray's client-config and report actions: the same functions `mcpshare apply --add`,
 * `mcpshare revert` and `mcpshare doctor` run, loaded on first click (they are a third of the
 * tray's memory if loaded at start, and most sessions never click them).
 */
export function trayConfigActions(manager: ServerManager, env: NodeJS.ProcessEnv = process.env): TrayConfigActions {
  const store = () => BackupStore.under(userPaths(env).stateDir);
  // Any apply on record, the CLI's too; read at most every 5 s, not on every redraw.
  let revertable = false;
  let readAt = 0;
  const stateDir = () => userPaths(env).stateDir;
  const canRevert = () => {
    if (Date.now() - readAt > 5000) {
      readAt = Date.now();
      try {
        revertable = store().allUnreverted().length > 0 || new BackupStore(join(stateDir(), 'client-backups')).allUnreverted().length > 0;
      } catch {
        revertable = false;
      }
    }
    return revertable;
  };

  // The clients found and whether they use the shared daemons: read in the background (it parses
  // their configs) at most every 30 s; the menu shows the last reading.
  let clients: readonly TrayClient[] = [];
  let clientsAt = 0;
  let reading = false;
  const refreshClients = async () => {
    if (reading) return;
    reading = true;
    try {
      // One import after the other: jest's module loader fails on two at once that share modules.
      const { CLIENTS, clientContext } = await import('../clients/targets/index.js');
      const { listClients } = await import('../clients/targets/run.js');
      clients = listClients(CLIENTS, clientContext(env), manager.list())
        .filter((c) => c.installed)
        .map((c) => ({ name: c.client, label: c.label, connected: c.usesShared }));
    } catch {
      // a broken config shows as not connected; "mcpshare clients" says why
    } finally {
      clientsAt = Date.now();
      reading = false;
    }
  };

  const apply = async (target: import('../clients/claude-config.js').ConfigTarget): Promise<string> => {
    const { applyConfig } = await import('../clients/apply.js');
    const report = await applyConfig({ target, registry: manager.list(), backups: store(), env, add: true });
    if (report.wrote) readAt = 0;
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
      const { revertConfig, targetOfRecord } = await import('../clients/revert.js');
      const newest = store()
        .allUnreverted()
        .sort((a, b) => b.record.at.localeCompare(a.record.at))[0];
      // Another client's apply (Connect a client) that is newer: undone by the client modules.
      const { allClientRecords } = await import('../clients/targets/records.js');
      const other = allClientRecords(stateDir())[0];
      if (other && (!newest || other.record.at > newest.record.at)) {
        const { revertClient } = await import('../clients/targets/generic.js');
        const rec = other.record;
        const r = await revertClient(
          { client: rec.client, scope: rec.scope, file: rec.file, format: rec.format, section: rec.section, dir: rec.dir },
          { stateDir: stateDir() },
        );
        readAt = 0;
        clientsAt = 0;
        return `${r.file}: ${r.message}`;
      }
      if (!newest) {
        readAt = 0;
        return 'nothing to revert: every config change on record is undone already';
      }
      // revertConfig undoes the newest apply of that config, which is this record.
      const r = await revertConfig({ target: targetOfRecord(newest.record), backups: store() });
      readAt = 0; // after the revert: a redraw while it ran may have read the records before it
      return `${r.file}: ${r.message}`;
    },
    canRevert,
    clients() {
      if (Date.now() - clientsAt > 30_000) void refreshClients();
      return clients;
    },
    async connectClient(name) {
      const { clientByName, clientContext } = await import('../clients/targets/index.js');
      const { applyClients } = await import('../clients/targets/run.js');
      const client = clientByName(name);
      const result = await applyClients([client], clientContext(env), { registry: manager.list(), stateDir: stateDir(), env, add: true });
      readAt = 0;
      await refreshClients();
      const parts = result.reports.map((r) => describeApply(r));
      for (const p of result.problems) parts.push(`${p.file}: ${p.error}`);
      for (const x of result.skipped) parts.push(x.reason);
      return parts.join('\n') || `Nothing to change for ${client.label}`;
    },
    async memoryReport() {
      const [{ doctor }, { renderDoctor }] = await Promise.all([import('../doctor/doctor.js'), import('../doctor/render.js')]);
      return renderDoctor(await doctor());
    },
  };
}

/** One notification's worth: what was shared, what was left and why. */
export function describeApply(r: Pick<ApplyReport, 'outcomes' | 'wrote' | 'file' | 'note'> & Partial<ApplyReport>): string {
  const shared = r.outcomes.filter((o) => o.status === 'switched' || o.status === 'added').map((o) => o.name);
  const already = r.outcomes.filter((o) => o.status === 'already-shared').map((o) => o.name);
  const left = r.outcomes.filter((o) => o.status === 'left' || (o.failed && o.status !== 'not-added')).map((o) => `${o.name} (${o.reason ?? o.status})`);
  const notAdded = r.outcomes.filter((o) => o.status === 'not-added').map((o) => `${o.name} (${o.reason ?? 'its daemon is not up'})`);
  const parts: string[] = [];
  if (r.wrote) parts.push(`Wrote ${r.file}`);
  if (shared.length) parts.push(`Shared now: ${shared.join(', ')}`);
  if (already.length) parts.push(`Already shared: ${already.join(', ')}`);
  if (left.length) parts.push(`Left as they were: ${left.join('; ')}`);
  if (notAdded.length) parts.push(`Not added: ${notAdded.join('; ')}`);
  if (!parts.length) parts.push(r.note ?? `Nothing to change in ${r.file}`);
  return parts.join('\n');
}
