import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Resident set size of one process in bytes, or undefined when it cannot be read (gone, no permission). */
export function rssOf(pid: number): number | undefined {
  if (process.platform === 'linux') {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
      return m ? Number(m[1]) * 1024 : undefined;
    } catch {
      return undefined;
    }
  }
  try {
    const out = execFileSync('ps', ['-o', 'rss=', '-p', String(pid)], { encoding: 'utf8' }).trim();
    return out ? Number(out) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Pids of every live process in a process group (the child and what it spawned, e.g. npx → node). */
export function pidsInGroup(pgid: number): number[] {
  if (process.platform === 'linux') {
    const pids: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        // Fields after the ")" that closes comm: state ppid pgrp ...
        const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (Number(rest[2]) === pgid) pids.push(Number(entry));
      } catch {
        // raced with an exiting process
      }
    }
    return pids;
  }
  try {
    const out = execFileSync('ps', ['-o', 'pid=', '-g', String(pgid)], { encoding: 'utf8' });
    return out
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((n) => n > 0);
  } catch {
    return [];
  }
}

/** Summed RSS of a whole process group, in bytes. */
export function groupRss(pgid: number): number | undefined {
  const pids = pidsInGroup(pgid);
  if (pids.length === 0) return undefined;
  let total = 0;
  for (const pid of pids) total += rssOf(pid) ?? 0;
  return total;
}
