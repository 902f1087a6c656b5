import { stateWord, type ServerStatus } from '../units/status.js';
import { mb, table } from '../util/table.js';

/** The status table and lines shared by `status`, `start`, `stop`. */

export function statusTable(rows: ServerStatus[]): string {
  if (rows.length === 0) return 'No servers registered yet. Add one with: mcpshare add NAME -- COMMAND [ARGS...]\n';
  const lines: string[][] = [['NAME', 'KIND', 'URL', 'STATE', 'RESTARTS', 'PID', 'MEMORY', 'SESSIONS']];
  for (const s of rows) {
    const kind = s.share && s.share !== 'global' ? `${s.kind} (per ${s.share})` : s.kind;
    lines.push([
      s.name,
      kind,
      s.url,
      stateWord(s),
      String(s.restarts),
      s.pid ? String(s.pid) : '-',
      memoryText(s),
      s.sessions === null ? '-' : String(s.sessions),
    ]);
    // Project and session modes: one row per server process under its daemon.
    if (s.share && s.share !== 'global') {
      for (const c of s.children)
        lines.push([`  └ ${c.scope}`, '', c.label, c.state, String(c.restarts), c.pid ? String(c.pid) : '-', memoryText(c), String(c.sessions)]);
    }
  }
  return table(lines);
}

/** `21 MB PSS` (Linux: pages shared with other processes counted once), `84 MB RSS` elsewhere. */
export function memoryText(s: Pick<ServerStatus, 'memory' | 'rssBytes'>): string {
  if (s.memory) return `${mb(s.memory.bytes)} ${s.memory.kind.toUpperCase()}`;
  return s.rssBytes ? `${mb(s.rssBytes)} RSS` : '-';
}

/** One line for a daemon after start/stop: its state and, when not fine, why and where the log is. */
export function statusLine(s: ServerStatus): string {
  const base = `${s.name}: ${s.state}`;
  if (s.state === 'up' && s.idle) return `${base} at ${s.url} (idle: its server starts on the first request)\n`;
  if (s.state === 'up') return `${base} at ${s.url}${s.server ? ` (${s.server.name} ${s.server.version})` : ''}\n`;
  if (s.state === 'stopped') return `${base}\n`;
  return `${base}: ${s.detail}\n  log: ${s.logFile}\n`;
}
