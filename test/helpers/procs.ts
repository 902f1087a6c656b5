/**
 * Test helpers: the process table, read from /proc (Linux). Tests find what they started by pid,
 * HOME, a marker in the environment or on the command line, and kill exactly that, never by name.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { sleep } from './wait.js';

/** State letter and process group from /proc/PID/stat; undefined when the process is gone. */
export function procStat(pid: number): { state: string; pgrp: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie (a zombie's kill(pid, 0) still succeeds; it holds no memory and runs nothing). */
export function alive(pid: number | null | undefined): boolean {
  if (!pid) return false;
  const s = procStat(pid);
  return !!s && s.state !== 'Z';
}

/** The command line joined by spaces; '' when the process is gone. */
export function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** The environment as NUL-separated KEY=value text; '' when gone or not ours to read. */
export function environ(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1');
  } catch {
    return '';
  }
}

/** Every live pid but this process's. */
export function allPids(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => pid !== process.pid && alive(pid));
}

/** Pids of live processes whose environment has HOME=home or whose command line mentions home. */
export function processesOf(home: string): number[] {
  return allPids().filter((pid) => environ(pid).split('\0').includes(`HOME=${home}`) || cmdline(pid).includes(home));
}

/** Live pids whose environment contains `entry` exactly (e.g. "MCPSHARE_TEST_DESKTOP=ab12"). */
export function pidsWithEnv(entry: string): number[] {
  return allPids().filter((pid) => environ(pid).split('\0').includes(entry));
}

/** Live members of a process group. */
export function groupMembers(pgid: number): number[] {
  return allPids().filter((pid) => procStat(pid)?.pgrp === pgid);
}

/** Every live process's command line (for "no secret in a process listing"). */
export function allCommandLines(): string[] {
  return allPids().map(cmdline);
}

/** Sends a signal, ignoring a process that is already gone. */
export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone meanwhile
  }
}

/** SIGTERM, up to `graceMs` to exit, then SIGKILL; waits until they are gone (2 s at most after the kill). */
export async function killAndWait(pids: number[], graceMs: number): Promise<void> {
  for (const p of pids) signal(p, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await sleep(25);
  for (const p of pids) if (alive(p)) signal(p, 'SIGKILL');
  const hard = Date.now() + 2000;
  while (pids.some(alive) && Date.now() < hard) await sleep(25);
}

/**
 * SIGKILLs what is left of a child's process group, but only processes whose command line carries
 * one of `markers` (never a reused pid that belongs to someone else).
 */
export function killLeftovers(pgid: number, markers: string[]): void {
  for (const pid of groupMembers(pgid)) if (markers.some((m) => cmdline(pid).includes(m))) signal(pid, 'SIGKILL');
}
