/**
 * `doctor()`: one process snapshot → which MCP servers run how many times in which sessions →
 * what sharing would save. The report is the stable JSON of `mcpshare doctor --json` (and the
 * tray's memory report): fields are only ever added.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defaultRegistryDir } from '../registry/location.js';
import { detect, type RegisteredDaemon } from './detect.js';
import { takeSnapshot, type ProcessSnapshot } from './processes.js';
import { measurePss } from './pss.js';
import { buildReport, type DoctorReport } from './report.js';

export interface DoctorOptions {
  /** A snapshot taken already (tests, or a caller that scans once for several reports). */
  snapshot?: ProcessSnapshot;
  /** Where to read processes: /proc (Linux default) or `ps` (elsewhere). */
  source?: 'proc' | 'ps';
  /** mcpshare's running daemons; by default asked from the registry. Pass [] to skip the registry. */
  daemons?: readonly RegisteredDaemon[];
  /** This install's CLI script (its processes are mcpshare's own); default: the one beside this file. */
  ownCli?: string;
  /** How long the registry's status may take before the report goes on without it. */
  registryTimeoutMs?: number;
}

/**
 * Where the registry's file is. Checked first because loading the registry and service-manager code
 * costs ~0.5 s, ten times the scan, and most people running `doctor` have registered nothing yet.
 */
export function registryFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(defaultRegistryDir(env), 'config.json');
}

/**
 * Registered daemons and their pids, from what their service manager says (loaded lazily: the registry and
 * service-manager code is not needed when the caller passes its own list). Never throws: a
 * registry that cannot be read becomes a note, and bridges are still found by their command line.
 */
export async function registeredDaemons(notes: string[], timeoutMs = 5000): Promise<RegisteredDaemon[]> {
  let timer: NodeJS.Timeout | undefined;
  if (!existsSync(registryFile())) return [];
  try {
    const { ServerManager } = await import('../units/manager.js');
    const manager = new ServerManager();
    if (manager.list().length === 0) return [];
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    // The pid is the service manager's word; the daemons themselves need not be asked.
    const entries = manager.list();
    const units = await Promise.race([Promise.all(entries.map((e) => manager.unitOf(e))), timeout]);
    return entries.map((e, i) => ({ name: e.name, kind: e.kind, pid: units[i].unit.pid ?? null }));
  } catch (err) {
    notes.push(`mcpshare's registered daemons could not be read (${(err as Error).message}); running bridges are still recognised by their command line`);
    return [];
  } finally {
    clearTimeout(timer);
  }
}

export async function doctor(opts: DoctorOptions = {}): Promise<DoctorReport> {
  const notes: string[] = [];
  const [snapshot, daemons] = await Promise.all([
    opts.snapshot ? Promise.resolve(opts.snapshot) : takeSnapshot({ source: opts.source }),
    opts.daemons ? Promise.resolve(opts.daemons) : registeredDaemons(notes, opts.registryTimeoutMs),
  ]);
  const report = buildReport(snapshot, detect(snapshot, { daemons, ownCli: opts.ownCli }), notes);
  // Only for a scan of this machine now: a snapshot given by the caller may be of other processes.
  if (!opts.snapshot) {
    const pss = measurePss(report);
    if (pss) report.pss = pss;
  }
  return report;
}
