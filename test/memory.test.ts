/**
 * True memory figures (issue 13): PSS where Linux gives it (smaps_rollup), RSS elsewhere, always
 * saying which; sums of mixed kinds say RSS; the doctor's PSS view of a report's processes.
 */
import { describe, expect, test } from '@jest/globals';
import { memoryKind, memoryOf, rssOf, sumMemory } from '../src/util/procinfo.js';
import { measurePss } from '../src/doctor/pss.js';
import type { DoctorReport } from '../src/doctor/report.js';

describe('PSS and RSS', () => {
  test('this process: PSS where the OS offers it (below its RSS: the node binary is shared), RSS otherwise, and the figure says which', () => {
    const own = memoryOf(process.pid)!;
    expect(own.kind).toBe(memoryKind());
    if (process.platform === 'linux') {
      expect(own.kind).toBe('pss');
      expect(own.bytes).toBeGreaterThan(0);
      expect(own.bytes).toBeLessThanOrEqual(rssOf(process.pid)!);
    } else expect(own.kind).toBe('rss');
    expect(memoryOf(2 ** 22 + 12345)).toBeUndefined(); // no such process
  });

  test('sums: gone processes count nothing, one RSS figure makes the sum RSS, nothing known is undefined', () => {
    expect(sumMemory([{ bytes: 5, kind: 'pss' }, undefined, { bytes: 7, kind: 'pss' }])).toEqual({ bytes: 12, kind: 'pss' });
    expect(
      sumMemory([
        { bytes: 5, kind: 'pss' },
        { bytes: 7, kind: 'rss' },
      ]),
    ).toEqual({ bytes: 12, kind: 'rss' });
    expect(sumMemory([undefined, null])).toBeUndefined();
  });
});

describe("the doctor's PSS view", () => {
  const report = {
    groups: [{ instances: [{ pids: [11, 12] }, { pids: [21] }] }],
    shared: [
      { kind: 'bridge', pid: 31, pids: [31, 32] },
      { kind: 'bridge', pid: 41, pids: [41, 42] },
      { kind: 'native', pid: 51, pids: [51] },
    ],
  } as unknown as DoctorReport;
  const pss: Record<number, number> = { [process.pid]: 1, 11: 100, 12: 10, 21: 100, 31: 20, 32: 60, 41: 30, 42: 60, 51: 40 };

  test('sums copies, shared daemons and the bridges alone; counts what exited', () => {
    expect(measurePss(report, (pid) => pss[pid])).toEqual({
      kind: 'pss',
      todayBytes: 210,
      alreadySharedBytes: 210,
      bridgesOwnBytes: 50,
      bridgeMedianBytes: 20,
      gone: 0,
    });
    expect(measurePss(report, (pid) => (pid === 12 ? undefined : pss[pid]))!.gone).toBe(1);
  });

  test('no PSS on this OS: no PSS view', () => {
    expect(measurePss(report, () => undefined)).toBeUndefined();
  });
});
