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

/**
 * How much memory a process really costs. PSS (proportional set size: each shared page divided by
 * the number of processes that map it) where the OS reports it (Linux's smaps_rollup), so pages
 * shared with other processes (the node binary, a library) are not counted once per process; RSS
 * elsewhere, which counts every shared page in full and so overstates a group of processes.
 */
export type MemoryKind = 'pss' | 'rss';

export interface Memory {
  bytes: number;
  kind: MemoryKind;
}

/** PSS of one process in bytes (Linux), undefined when it cannot be read. */
export function pssOf(pid: number): number | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const m = /^Pss:\s+(\d+)\s+kB/m.exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The kind of figure this machine gives: PSS if this process's own can be read, else RSS. */
export function memoryKind(): MemoryKind {
  return pssOf(process.pid) !== undefined ? 'pss' : 'rss';
}

/** One process's memory: PSS where available, RSS otherwise, saying which. */
export function memoryOf(pid: number): Memory | undefined {
  const pss = pssOf(pid);
  if (pss !== undefined) return { bytes: pss, kind: 'pss' };
  const rss = rssOf(pid);
  return rss === undefined ? undefined : { bytes: rss, kind: 'rss' };
}

/** A whole process group's memory (PSS summed where available, else RSS summed). */
export function groupMemory(pgid: number): Memory | undefined {
  const pids = pidsInGroup(pgid);
  if (pids.length === 0) return undefined;
  return sumMemory(pids.map(memoryOf));
}

/**
 * Adds figures up; if any is RSS the sum says RSS (a mix would be neither). Undefined entries
 * (processes gone) count as nothing; all undefined gives undefined.
 */
export function sumMemory(parts: readonly (Memory | undefined | null)[]): Memory | undefined {
  const known = parts.filter((p): p is Memory => !!p);
  if (known.length === 0) return undefined;
  return { bytes: known.reduce((n, p) => n + p.bytes, 0), kind: known.every((p) => p.kind === 'pss') ? 'pss' : 'rss' };
}
