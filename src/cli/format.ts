import type { ServerStatus } from '../units/status.js';
import { mb, table } from '../util/table.js';

/** The status table and lines shared by `status`, `start`, `stop`. */

export function statusTable(rows: ServerStatus[]): string {
  if (rows.length === 0) return 'No servers registered yet. Add one with: mcpshare add NAME -- COMMAND [ARGS...]\n';
  return table([
    ['NAME', 'KIND', 'URL', 'STATE', 'RESTARTS', 'PID', 'RSS', 'SESSIONS'],
    ...rows.map((s) => [
      s.name,
      s.kind,
      s.url,
      s.state,
      String(s.restarts),
      s.pid ? String(s.pid) : '-',
      mb(s.rssBytes),
      s.sessions === null ? '-' : String(s.sessions),
    ]),
  ]);
}

/** One line for a daemon after start/stop: its state and, when not fine, why and where the log is. */
export function statusLine(s: ServerStatus): string {
  const base = `${s.name}: ${s.state}`;
  if (s.state === 'up') return `${base} at ${s.url}${s.server ? ` (${s.server.name} ${s.server.version})` : ''}\n`;
  if (s.state === 'stopped') return `${base}\n`;
  return `${base}: ${s.detail}\n  log: ${s.logFile}\n`;
}
