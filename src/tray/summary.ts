import type { ServerHealth } from '../health/monitor.js';
import type { DaemonState } from '../units/status.js';

/**
 * What the tray shows, as plain functions of the health monitor's rows: the icon's summary state and
 * each server's menu label. Per-item icons are not drawn by Linux trays, so a server's state is a
 * symbol plus a word in its label; the colour lives in the one tray icon.
 */
export type TraySummary = 'up' | 'degraded' | 'crash-loop' | 'stopped';

/** One word for the whole set, worst first: any crash loop, then anything not up, then all stopped. */
export function summarize(rows: readonly Pick<ServerHealth, 'state'>[]): TraySummary {
  if (rows.some((r) => r.state === 'crash-loop')) return 'crash-loop';
  if (rows.length === 0 || rows.every((r) => r.state === 'stopped')) return 'stopped';
  if (rows.every((r) => r.state === 'up')) return 'up';
  return 'degraded';
}

/** Symbols from DejaVu Sans (Debian's default UI fallback) and the macOS system font. */
export const STATE_SYMBOL: Record<DaemonState, string> = {
  up: '●',
  starting: '◌',
  down: '▲',
  stopped: '○',
  'crash-loop': '✖',
};

const STATE_WORD: Record<DaemonState, string> = {
  up: 'up',
  starting: 'starting',
  down: 'down',
  stopped: 'stopped',
  'crash-loop': 'crash loop',
};

export function formatMegabytes(bytes: number | null | undefined): string | undefined {
  if (bytes == null || !Number.isFinite(bytes)) return undefined;
  return `${Math.round(bytes / (1024 * 1024))} MB`;
}

/** An up daemon whose server sleeps (ready; the next request starts it): its own symbol and word. */
export const IDLE_SYMBOL = '◐';

type IdleView = Pick<ServerHealth, 'state'> & { status?: Pick<ServerHealth['status'], 'idle'> };
const isIdle = (h: IdleView) => h.state === 'up' && h.status?.idle === true;

/** The figure a row shows: PSS (or RSS) with its kind, `9 MB PSS`; plain RSS when that is all there is. */
function memoryLabel(s: ServerHealth['status']): string | undefined {
  if (s.memory) {
    const mb = formatMegabytes(s.memory.bytes);
    return mb && `${mb} ${s.memory.kind.toUpperCase()}`;
  }
  return formatMegabytes(s.rssBytes);
}

/**
 * `● memory — up · :8011 · 3 sessions · 62 MB PSS`, `◐ fs — idle · :8012 · 1 session · 9 MB PSS`,
 * `✖ grafana — crash loop after 5 restarts`. A down daemon names why in a few words; the whole
 * reason is in `mcpshare check NAME`.
 */
export function serverLabel(h: Pick<ServerHealth, 'name' | 'state' | 'detail' | 'status'>): string {
  const s = h.status;
  const parts: string[] = [];
  if (h.state === 'crash-loop') parts.push(`crash loop after ${s.restarts} restart${s.restarts === 1 ? '' : 's'}`);
  else if (h.state === 'down') parts.push(`down: ${shortReason(h.detail)}`);
  else parts.push(isIdle(h) ? 'idle' : STATE_WORD[h.state]);
  parts.push(`:${s.port}`);
  // Project and session modes: the daemon runs one server process per project or session.
  if (s.share === 'project' || s.share === 'session') {
    const running = (s.children ?? []).filter((c) => c.pid !== null).length;
    parts.push(`per ${s.share}, ${running} process${running === 1 ? '' : 'es'}`);
  }
  if (h.state === 'up' || h.state === 'starting') {
    if (s.sessions != null) parts.push(`${s.sessions} session${s.sessions === 1 ? '' : 's'}`);
    const mb = memoryLabel(s);
    if (mb) parts.push(mb);
  }
  return `${isIdle(h) ? IDLE_SYMBOL : STATE_SYMBOL[h.state]} ${h.name} — ${parts.join(' · ')}`;
}

/** First clause of a diagnosis, at most 48 characters: a menu row is not the place for a paragraph. */
export function shortReason(detail: string): string {
  const first = (detail || 'not answering').split(/[;\n]/)[0]!.trim();
  return first.length > 48 ? `${first.slice(0, 47)}…` : first;
}

/** The disabled first row of the menu: `mcpshare — 3 of 4 up`, `mcpshare — 4 of 4 up (2 idle)`. */
export function headerLabel(rows: readonly IdleView[]): string {
  if (rows.length === 0) return 'mcpshare — no servers registered';
  const up = rows.filter((r) => r.state === 'up').length;
  const idle = rows.filter(isIdle).length;
  const loops = rows.filter((r) => r.state === 'crash-loop').length;
  return `mcpshare — ${up} of ${rows.length} up${idle ? ` (${idle} idle)` : ''}${loops ? `, ${loops} crash-looping` : ''}`;
}

/** Hover text (shown on macOS; Linux XEmbed trays ignore it). */
export function tooltip(rows: readonly (IdleView & Pick<ServerHealth, 'name'>)[]): string {
  if (rows.length === 0) return 'mcpshare: no servers registered';
  return `mcpshare: ${rows.map((r) => `${r.name} ${isIdle(r) ? 'idle' : STATE_WORD[r.state]}`).join(', ')}`;
}

/**
 * A click on a server row stops a daemon that is serving (or trying to), starts one that is not,
 * and restarts one that runs but fails its handshake: that is what makes a red row green.
 */
export function clickAction(h: Pick<ServerHealth, 'state' | 'status'>): 'start' | 'stop' | 'restart' {
  if (h.state === 'up' || h.state === 'starting') return 'stop';
  if (h.state === 'down' && h.status.pid != null) return 'restart';
  return 'start';
}

/**
 * The memory figure to show: the last one shown, until the real one moved 5 MB (or 5%) away from
 * it. Each changed label is one update to the tray binary, whose GTK menu keeps ~1 KB per update.
 */
export function steadyBytes(shown: number | undefined, now: number): number {
  if (shown === undefined || Math.abs(now - shown) >= Math.max(5 * 1024 * 1024, shown * 0.05)) return now;
  return shown;
}
