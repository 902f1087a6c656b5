/**
 * The same report's figures measured as PSS where the OS offers it (Linux smaps_rollup): each page
 * shared between processes (the node binary, libraries, a server's copies started from one file)
 * counted once in total instead of once per process, as RSS does. RSS overstates what N copies of
 * one server cost, and what mcpshare's bridges cost beside them; PSS is what freeing them returns.
 */
import { pssOf } from '../util/procinfo.js';
import type { DoctorReport } from './report.js';

export interface PssFigures {
  kind: 'pss';
  /** Σ PSS of every per-session copy found now (the report's todayBytes, as PSS). */
  todayBytes: number;
  /** Σ PSS of what mcpshare already shares: bridges with their servers, native daemons. */
  alreadySharedBytes: number;
  /** The running bridges alone, without their servers. */
  bridgesOwnBytes: number;
  /** Median PSS of one running bridge alone; null when none runs. */
  bridgeMedianBytes: number | null;
  /** Processes that exited between the scan and this reading (counted as 0). */
  gone: number;
}

/** PSS of the report's processes, read now; undefined where the OS gives no PSS. */
export function measurePss(report: DoctorReport, read: (pid: number) => number | undefined = pssOf): PssFigures | undefined {
  if (read(process.pid) === undefined) return undefined;
  let gone = 0;
  const of = (pids: readonly number[]) =>
    pids.reduce((sum, pid) => {
      const v = read(pid);
      if (v === undefined) gone++;
      return sum + (v ?? 0);
    }, 0);
  const copies = report.groups.flatMap((g) => g.instances.flatMap((i) => i.pids));
  const bridges = report.shared.filter((s) => s.kind === 'bridge');
  const own = bridges
    .map((b) => read(b.pid) ?? 0)
    .filter((v) => v > 0)
    .sort((a, b) => a - b);
  return {
    kind: 'pss',
    todayBytes: of(copies),
    alreadySharedBytes: of(report.shared.flatMap((s) => s.pids)),
    bridgesOwnBytes: own.reduce((a, b) => a + b, 0),
    bridgeMedianBytes: own.length ? own[Math.floor((own.length - 1) / 2)] : null,
    gone,
  };
}
