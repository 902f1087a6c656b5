/**
 * Test helpers: suites that need something a machine may lack (a headless desktop, a systemd user
 * manager). `npm test` passes on a machine without them: such a suite is skipped with ONE line on
 * stderr naming what is missing and the command that installs it. CI (.ci/run) sets
 * MCPSHARE_REQUIRE_ALL=1, which turns every such skip into a failure, so CI always runs everything.
 */
import { describe, test } from '@jest/globals';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Set to 1 (CI does) to fail, not skip, a suite whose tools are missing. */
export const REQUIRE_ALL_ENV = 'MCPSHARE_REQUIRE_ALL';

export interface Requirement {
  /** What the suites need, as the skip line says it: "a headless desktop", "a systemd user manager". */
  what: string;
  /** What is missing here (empty when nothing is) and the command that installs exactly that. */
  check(): { missing: string[]; install: string };
}

/** True when `cmd` is an executable in a directory of PATH. */
export function onPath(cmd: string, path = process.env.PATH ?? ''): boolean {
  return path.split(delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The one line for a machine that lacks what `req` needs; undefined when it has everything. */
export function missingLine(req: Requirement): string | undefined {
  const { missing, install } = req.check();
  if (missing.length === 0) return undefined;
  return `needs ${req.what}, missing here: ${missing.join(', ')}; install with: ${install}`;
}

/**
 * `describe(title, fn)` when the machine has what `req` needs. Otherwise the suite is skipped with one
 * line on stderr, or, under MCPSHARE_REQUIRE_ALL=1, replaced by one test that fails with that line.
 */
export function describeWith(req: Requirement, title: string, fn: () => void): void {
  const line = missingLine(req);
  if (line === undefined) {
    describe(title, fn);
    return;
  }
  if (process.env[REQUIRE_ALL_ENV] === '1') {
    describe(title, () => {
      test(`has ${req.what}`, () => {
        throw new Error(`${line}\n(${REQUIRE_ALL_ENV}=1: a suite that cannot run here is a failure, not a skip)`);
      });
    });
    return;
  }
  // Written at once, not through console (jest would add a stack location): one line per skipped suite.
  process.stderr.write(`skipped "${title}": ${line}\n`);
  describe.skip(title, fn);
}
