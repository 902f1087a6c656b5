import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * One-per-user processes (the tray, the built-in supervisor) hold a pid file created exclusively
 * ('wx') before they do anything else, so two started at once (a login item and an installer, ten
 * parallel `start`s) cannot both run. A file whose process is gone, or whose pid now belongs to a
 * program without `marker` on its command line (a pid reused after a crash), is stale and replaced.
 */

/** argv of a running process: /proc on Linux, one `ps` call elsewhere (macOS). */
export function commandLineOf(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    /* no /proc */
  }
  try {
    return execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8', timeout: 5000 })
      .trim()
      .split(/\s+/);
  } catch {
    return undefined;
  }
}

/** True while a process with this pid exists (ours to signal). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The live process holding the lock (not this one), or undefined when the file is missing or stale. */
export function lockHolder(file: string, marker: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || !processAlive(pid)) return undefined;
  return commandLineOf(pid)?.includes(marker) ? pid : undefined;
}

/** Takes the lock; returns the pid of the live process holding it instead, if any. */
export function acquirePidLock(file: string, marker: string): number | undefined {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { mode: 0o600, flag: 'wx' });
      return undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = lockHolder(file, marker);
    if (holder) return holder;
    rmSync(file, { force: true });
  }
  throw new Error(`could not take the lock ${file}`);
}

/** Removes the lock file if it is still this process's. */
export function releasePidLock(file: string): void {
  try {
    if (Number.parseInt(readFileSync(file, 'utf8'), 10) === process.pid) rmSync(file, { force: true });
  } catch {
    /* already gone */
  }
}
