import { mb, table } from '../util/table.js';
import type { DoctorReport, ServerGroup } from './report.js';

/** The doctor's report for people: what `mcpshare doctor` prints and the tray's "Memory report" shows. */

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
/** mb() prints "-" for 0; a saving of nothing is "0 MB" here. */
const size = (bytes: number) => (bytes === 0 ? '0 MB' : mb(bytes));

function groupRow(g: ServerGroup): string[] {
  const saves = g.verdict === 'shareable' ? size(g.savedNowBytes) : 'not counted';
  const range = g.copies > 1 ? `${mb(g.minBytes).replace(' MB', '')}–${mb(g.maxBytes)}` : '';
  const shared = g.alreadySharedBy ? `running (${g.alreadySharedBy})` : g.verdict === 'shareable' ? size(g.sharedCostBytes) : '-';
  const sharing = g.verdict === 'shareable' && g.share !== 'global' ? `shareable (per ${g.share})` : g.verdict;
  return [g.server, sharing, String(g.copies), String(g.sessions), size(g.totalBytes), mb(g.meanBytes), range, shared, saves, g.key];
}

/** The report for people: a few short tables, what was measured and what was assumed. */
export function renderDoctor(r: DoctorReport): string {
  const out: string[] = [];
  const scanned = `scanned ${r.scan.processes} processes in ${Math.round(r.scan.durationMs)} ms`;
  if (r.groups.length === 0) {
    out.push(`No per-session MCP server processes found (${scanned}).\n`);
  } else {
    const t = r.totals;
    out.push(
      `${plural(t.copies, 'copy', 'copies')} of ${plural(t.servers, 'MCP server')} running in ${plural(t.sessions, 'client session')} (${scanned}).\n\n`,
    );
    out.push(table([['SERVER', 'SHARING', 'COPIES', 'SESSIONS', 'TOTAL', 'PER COPY', 'MIN–MAX', 'SHARED', 'SAVES NOW', 'COMMAND'], ...r.groups.map(groupRow)]));
    const verdict =
      t.savedBytes >= 0
        ? `Sharing saves ${size(t.savedBytes)} now.`
        : `Sharing would cost ${size(-t.savedBytes)} more now: a server with one copy still needs its bridge${r.breakEvenSessions ? `; it pays from ${r.breakEvenSessions} sessions on` : ''}.`;
    out.push(`\nToday: ${size(t.todayBytes)}. Shared: ${size(t.sharedBytes)}. ${verdict}\n`);
    out.push(`Bridge: ${mb(r.bridge.bytes)} per shared stdio server (${r.bridge.source}: ${r.bridge.detail}); servers with their own HTTP need none.\n`);

    out.push(`\nProjection for N concurrent sessions, from the measured mean RSS per copy:\n`);
    const withUnknown = r.groups.some((g) => g.verdict === 'unknown');
    const head = ['SESSIONS', 'ONE COPY PER SESSION', 'SHARED', 'SAVED', ...(withUnknown ? ['SAVED IF UNKNOWN ARE SHAREABLE'] : [])];
    out.push(
      table([
        head,
        ...r.projection.map((p) => [
          String(p.sessions),
          size(p.perSessionBytes),
          size(p.sharedBytes),
          size(p.savedBytes),
          ...(withUnknown ? [size(p.savedIfUnknownShareableBytes)] : []),
        ]),
      ]),
    );
    if (r.breakEvenSessions !== null) out.push(`Sharing pays from ${plural(r.breakEvenSessions, 'concurrent session')} on.\n`);

    const perSession = r.groups.filter((g) => g.verdict === 'per-session');
    if (perSession.length) out.push(`\nKept per session (not counted in the saving):\n${perSession.map((g) => `  ${g.server}: ${g.reason}\n`).join('')}`);
    const unknown = r.groups.filter((g) => g.verdict === 'unknown');
    if (unknown.length) {
      out.push(`\nNot known to mcpshare (not counted; sharing them would save ${size(r.totals.unknownSavingBytes)} more if they keep no per-session state):\n`);
      out.push(unknown.map((g) => `  ${g.server}: ${plural(g.copies, 'copy', 'copies')}, ${size(g.totalBytes)}\n`).join(''));
    }
    out.push(`\nSessions:\n`);
    out.push(
      table([
        ['PID', 'CLIENT', 'COPIES', 'RSS', 'SERVERS'],
        ...r.sessions.map((s) => [String(s.pid), s.client ?? s.name, String(s.copies), size(s.rssBytes), s.servers.join(', ')]),
      ]),
    );
  }
  if (r.shared.length) {
    out.push(`\nAlready shared by mcpshare (${size(r.totals.alreadySharedBytes)}):\n`);
    out.push(
      table([
        ['NAME', 'KIND', 'PID', 'PORT', 'OWN RSS', 'SERVER RSS', 'COMMAND'],
        ...r.shared.map((s) => [
          s.name ?? '-',
          s.kind,
          String(s.pid),
          s.port === null ? '-' : String(s.port),
          size(s.ownRssBytes),
          size(s.serverRssBytes),
          s.command || '-',
        ]),
      ]),
    );
  }
  if (r.pss && (r.groups.length || r.shared.length)) {
    // RSS counts every shared page once per process (the node binary, libraries): PSS is the real cost.
    const p = r.pss;
    out.push(
      `\nMeasured as PSS (pages shared between processes counted once; the RSS figures above count them once per process):\n` +
        (r.groups.length ? `  per-session copies: ${size(p.todayBytes)} PSS (RSS ${size(r.totals.todayBytes)})\n` : '') +
        (r.shared.length
          ? `  already shared by mcpshare: ${size(p.alreadySharedBytes)} PSS (RSS ${size(r.totals.alreadySharedBytes)}), its bridges alone ${size(p.bridgesOwnBytes)}${p.bridgeMedianBytes ? `, ${mb(p.bridgeMedianBytes)} each` : ''}\n`
          : ''),
    );
  }
  if (r.notes.length) out.push(`\n${r.notes.map((n) => `note: ${n}\n`).join('')}`);
  return out.join('');
}
