import { stateWord, type ServerStatus } from '../units/status.js';

/** Human-readable sizes and the status table shared by `status`, `start`, `stop`. */
export function mb(bytes: number | null | undefined): string {
  return bytes ? `${(bytes / 1024 / 1024).toFixed(0)} MB` : '-';
}

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n') + '\n';
}

export function statusTable(rows: ServerStatus[]): string {
  if (rows.length === 0) return 'No servers registered yet. Add one with: mcpshare add NAME -- COMMAND [ARGS...]\n';
  return table([
    ['NAME', 'KIND', 'URL', 'STATE', 'RESTARTS', 'PID', 'MEMORY', 'SESSIONS'],
    ...rows.map((s) => [s.name, s.kind, s.url, stateWord(s), String(s.restarts), s.pid ? String(s.pid) : '-', memoryText(s), s.sessions === null ? '-' : String(s.sessions)]),
  ]);
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
