import { mkdirSync, rmdirSync, statSync } from 'node:fs';
import { McpshareError } from '../errors.js';

/**
 * The lock Claude Code takes around every save of `~/.claude.json`: a directory `FILE.lock`
 * (proper-lockfile's convention: mkdir is atomic; a holder refreshes its mtime, and one older than
 * 10 s is stale). Claude Code rewrites that file all the time (counters, project history), so an
 * edit that skipped the lock could be overwritten a moment later, or overwrite one of its saves.
 * We hold it only for read-modify-write of a few milliseconds, so we never need to refresh it.
 * A lock held too long is McpshareError 'config-locked'.
 */

const STALE_MS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function withFileLock<T>(file: string, fn: () => T | Promise<T>, opts: { timeoutMs?: number; staleMs?: number } = {}): Promise<T> {
  const lockDir = `${file}.lock`;
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  const staleMs = opts.staleMs ?? STALE_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      mkdirSync(lockDir);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let age: number;
      try {
        age = Date.now() - statSync(lockDir).mtimeMs;
      } catch {
        continue; // released between mkdir and stat: try again at once
      }
      if (age > staleMs) {
        // Left behind by a process that died while holding it (proper-lockfile does the same).
        try {
          rmdirSync(lockDir);
        } catch {
          // someone else removed or took it; the next mkdir decides
        }
        continue;
      }
      if (Date.now() > deadline) {
        throw new McpshareError(
          'config-locked',
          `${file} is locked by another program (${lockDir} exists, most likely Claude Code saving it); nothing was changed — try again in a moment (if no Claude Code runs, delete ${lockDir})`,
          { context: { file } },
        );
      }
      await sleep(Math.min(50 * 2 ** Math.min(attempt, 4), 500));
    }
  }
  try {
    return await fn();
  } finally {
    try {
      rmdirSync(lockDir);
    } catch {
      // removed as stale by someone else: nothing to release
    }
  }
}
