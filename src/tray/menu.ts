import type { ServerHealth } from '../health/monitor.js';
import { headerLabel, serverLabel, type TraySummary } from './summary.js';
import { SEPARATOR, type TrayItem } from './tray-host.js';

/**
 * The tray's menu as a plain function of the servers' health and the tray's own state. Keys name
 * what a click does (`server:NAME`, `restart:NAME`, `start-all`…), so dispatch never depends on
 * positions in the menu.
 */
export interface MenuState {
  rows: readonly ServerHealth[];
  /** Servers with an action in flight, and its word ("stopping…"). */
  pending: ReadonlyMap<string, string>;
  /** Login autostart of the tray: on, off, or unknown (no autostart on this platform). */
  autostart: boolean | undefined;
  /** A config change by the tray that Revert would undo. */
  canRevert: boolean;
  /** The MCP clients found on this machine, for "Connect a client" (none: no submenu). */
  clients?: readonly TrayClient[];
}

export interface TrayClient {
  name: string;
  label: string;
  /** Some of its servers go through the shared daemons already. */
  connected: boolean;
}

export const ACTIONS = {
  startAll: 'start-all',
  stopAll: 'stop-all',
  writeProject: 'write-project',
  useUser: 'use-user',
  revert: 'revert',
  memory: 'memory',
  autostart: 'autostart',
  quit: 'quit',
  quitAndStop: 'quit-stop',
} as const;

let separators = 0;
const separator = (): TrayItem => ({ key: `sep-${++separators}`, title: SEPARATOR });

export function buildMenu(s: MenuState): TrayItem[] {
  separators = 0;
  const names = s.rows.map((r) => r.name);
  const items: TrayItem[] = [{ key: 'header', title: headerLabel(s.rows), enabled: false }];
  for (const r of s.rows) {
    const busy = s.pending.get(r.name) ?? (r.checkedAt === 0 ? 'checking…' : undefined);
    items.push({ key: `server:${r.name}`, title: busy ? `◌ ${r.name} — ${busy}` : serverLabel(r), enabled: !busy });
  }
  if (names.length) {
    items.push({ key: 'hint', title: 'Click a server to start or stop it', enabled: false });
  }
  items.push(separator());
  const any = names.length > 0;
  items.push({ key: ACTIONS.startAll, title: 'Start all', enabled: any && s.rows.some((r) => r.state !== 'up' && r.state !== 'starting') });
  items.push({ key: ACTIONS.stopAll, title: 'Stop all', enabled: any && s.rows.some((r) => r.state !== 'stopped') });
  if (any) {
    items.push({ key: 'restart-menu', title: 'Restart', items: names.map((n) => ({ key: `restart:${n}`, title: n, enabled: !s.pending.has(n) })) });
    items.push({ key: 'log-menu', title: 'Show log', items: names.map((n) => ({ key: `log:${n}`, title: n })) });
  }
  items.push(separator());
  items.push({ key: ACTIONS.writeProject, title: 'Write .mcp.json…', enabled: any });
  items.push({ key: ACTIONS.useUser, title: 'Use shared servers for all projects', enabled: any });
  if (s.clients?.length) {
    // ✓: the client uses the shared daemons already; a click (again) switches what is left.
    items.push({
      key: 'connect-menu',
      title: 'Connect a client',
      items: s.clients.map((c) => ({ key: `connect:${c.name}`, title: c.connected ? `${c.label} ✓` : c.label, enabled: any })),
    });
  }
  items.push({ key: ACTIONS.revert, title: 'Revert last config change', enabled: s.canRevert });
  items.push(separator());
  items.push({ key: ACTIONS.memory, title: 'Memory report' });
  if (s.autostart !== undefined) items.push({ key: ACTIONS.autostart, title: `Start at login: ${s.autostart ? 'on' : 'off'}` });
  items.push(separator());
  items.push({ key: ACTIONS.quit, title: 'Quit (servers keep running)' });
  items.push({ key: ACTIONS.quitAndStop, title: 'Quit and stop all servers', enabled: any });
  return items;
}

/**
 * Which PNG in assets/ shows this summary. Linux trays draw a 22 px PNG 1:1; the macOS binary scales
 * the image to 16 points, so it gets the 44 px one (sharp on Retina), and its template icon while
 * nothing needs attention (the menu bar tints it for light and dark mode).
 */
export function iconFile(summary: TraySummary, platform: NodeJS.Platform): { file: string; template: boolean } {
  if (platform === 'darwin') {
    if (summary === 'up' || summary === 'stopped') return { file: 'tray-template@2x.png', template: true };
    return { file: `tray-${summary}@2x.png`, template: false };
  }
  return { file: `tray-${summary}.png`, template: false };
}
