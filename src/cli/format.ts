import type { ServerStatus } from '../units/status.js';
import { mb, table } from '../util/table.js';

/** The status table and lines shared by `status`, `start`, `stop`. */

export function statusTable(rows: ServerStatus[]): string {
  if (rows.length === 0) return 'No servers registered yet. Add one with: mcpshare add NAME -- COMMAND [ARGS...]\n';
  const lines: string[][] = [['NAME', 'KIND', 'URL', 'STATE', 'RESTARTS', 'PID', 'RSS', 'SESSIONS']];
  for (const s of rows) {
    const kind = s.share && s.share !== 'global' ? `${s.kind} (per ${s.share})` : s.kind;
    lines.push([s.name, kind, s.url, s.state, String(s.restarts), s.pid ? String(s.pid) : '-', mb(s.rssBytes), s.sessions === null ? '-' : String(s.sessions)]);
    // Project and session modes: one row per server process under its daemon.
    if (s.share && s.share !== 'global') {
      for (const c of s.children)
        lines.push([`  └ ${c.scope}`, '', c.label, c.state, String(c.restarts), c.pid ? String(c.pid) : '-', mb(c.rssBytes), String(c.sessions)]);
    }
  }
  return table(lines);
}

/** One line for a daemon after start/stop: its state and, when not fine, why and where the log is. */
export function statusLine(s: ServerStatus): string {
  const base = `${s.name}: ${s.state}`;
  if (s.state === 'up') return `${base} at ${s.url}${s.server ? ` (${s.server.name} ${s.server.version})` : ''}\n`;
  if (s.state === 'stopped') return `${base}\n`;
  return `${base}: ${s.detail}\n  log: ${s.logFile}\n`;
}
