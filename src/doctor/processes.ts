/**
 * One snapshot of the process table: pid, parent, process group, command line and RSS of every
 * process we may read. Linux reads /proc once per pid; macOS (and any other Unix) asks `ps` once.
 * The parsers are pure so they are tested with captured text. A process that exits mid-scan, or
 * one we may not read (another user's, hidepid), is skipped and counted, never an error.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { McpshareError } from '../errors.js';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  /** The command line as the kernel reports it; [] for kernel threads and zombies. */
  argv: string[];
  /** The kernel's short name (Linux comm, else argv[0]'s basename): `claude`, `node`. */
  name: string;
  /** Resident set size; 0 when it could not be read. */
  rssBytes: number;
  /** Working directory (Linux /proc only; absent when unreadable or from `ps`): a session's project. */
  cwd?: string;
}

export interface ProcessSnapshot {
  source: 'proc' | 'ps';
  processes: ProcessInfo[];
  /** Processes listed but not read: exited during the scan, or not readable by this user. */
  unreadable: number;
  /** Wall time of the scan itself. */
  durationMs: number;
  takenAt: string;
  /** The pid of the process that took the snapshot (left out of every report). */
  selfPid: number;
  /** Set when the command lines are space-joined text (ps), so an argument with a space in it is split. */
  lossyArgv: boolean;
}

/** Fields of /proc/PID/stat after comm (which may contain spaces and parentheses). */
export function parseProcStat(text: string): { name: string; ppid: number; pgid: number } | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const f = text.slice(close + 2).split(' ');
  const ppid = Number(f[1]);
  const pgid = Number(f[2]);
  if (!Number.isInteger(ppid) || !Number.isInteger(pgid)) return undefined;
  return { name: text.slice(open + 1, close), ppid, pgid };
}

/** VmRSS from /proc/PID/status in bytes (absent for kernel threads and zombies → 0). */
export function parseStatusRss(text: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}

/**
 * /proc/PID/cmdline: NUL-separated argv. A process that set its title (npm sets
 * `npm exec @x/server`) shows one space-joined string padded with NULs: split that on spaces.
 */
export function parseCmdline(raw: string): string[] {
  const parts = raw.split('\0');
  while (parts.length && parts[parts.length - 1] === '') parts.pop();
  if (parts.length === 1 && parts[0].includes(' ')) return parts[0].split(/ +/).filter(Boolean);
  return parts;
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function linkOrUndefined(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** One pass over /proc: stat (required), cmdline and status (best effort) per pid. */
export function scanProc(root = '/proc'): ProcessSnapshot {
  const t0 = performance.now();
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch (err) {
    throw new McpshareError('process-scan', `cannot list ${root}: ${(err as Error).message}`, { cause: err });
  }
  const processes: ProcessInfo[] = [];
  let unreadable = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readOrUndefined(`${root}/${entry}/stat`);
    const parsed = stat ? parseProcStat(stat) : undefined;
    if (!parsed) {
      unreadable++;
      continue;
    }
    const cmdline = readOrUndefined(`${root}/${entry}/cmdline`);
    const status = readOrUndefined(`${root}/${entry}/status`);
    if (cmdline === undefined || status === undefined) unreadable++;
    const cwd = linkOrUndefined(`${root}/${entry}/cwd`);
    processes.push({
      pid: Number(entry),
      ppid: parsed.ppid,
      pgid: parsed.pgid,
      name: parsed.name,
      argv: cmdline ? parseCmdline(cmdline) : [],
      rssBytes: status ? parseStatusRss(status) : 0,
      ...(cwd ? { cwd } : {}),
    });
  }
  return {
    source: 'proc',
    processes,
    unreadable,
    durationMs: performance.now() - t0,
    takenAt: new Date().toISOString(),
    selfPid: process.pid,
    lossyArgv: false,
  };
}

/** The `ps` call scanPs makes: every process, unlimited width, RSS in KiB, the full command last. */
export const PS_ARGS = ['-axww', '-o', 'pid=,ppid=,pgid=,rss=,command='] as const;

/**
 * Output of `ps -axww -o pid=,ppid=,pgid=,rss=,command=`. The command is the last column, argv
 * joined by spaces: split on spaces (an argument that contains a space is split too; the joined
 * line is what detection mostly reads, so this only blurs a few names).
 */
export function parsePsOutput(text: string): { processes: ProcessInfo[]; unparsed: number } {
  const processes: ProcessInfo[] = [];
  let unparsed = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s?(.*)$/.exec(line);
    if (!m) {
      unparsed++;
      continue;
    }
    const argv = m[5].trim() ? m[5].trim().split(/ +/) : [];
    const name = argv[0] ? argv[0].slice(argv[0].lastIndexOf('/') + 1) : '';
    processes.push({ pid: Number(m[1]), ppid: Number(m[2]), pgid: Number(m[3]), rssBytes: Number(m[4]) * 1024, argv, name });
  }
  return { processes, unparsed };
}

/** One `ps` call (macOS, BSDs; also works on Linux with procps). */
export function scanPs(): Promise<ProcessSnapshot> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    execFile('ps', [...PS_ARGS], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 10_000 }, (err, stdout) => {
      // ps exits 1 on some systems when a listed process vanished; its output is still good.
      if (err && !stdout) return reject(new McpshareError('process-scan', `ps ${PS_ARGS.join(' ')} failed: ${err.message}`, { cause: err }));
      const { processes, unparsed } = parsePsOutput(stdout);
      resolve({
        source: 'ps',
        processes,
        unreadable: unparsed,
        durationMs: performance.now() - t0,
        takenAt: new Date().toISOString(),
        selfPid: process.pid,
        lossyArgv: true,
      });
    });
  });
}

/** /proc where there is one (Linux), else `ps`. */
export async function takeSnapshot(opts: { source?: 'proc' | 'ps' } = {}): Promise<ProcessSnapshot> {
  const source = opts.source ?? (process.platform === 'linux' ? 'proc' : 'ps');
  return source === 'proc' ? scanProc() : scanPs();
}
