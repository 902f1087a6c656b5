/**
 * Runs the MCP conformance suite (@modelcontextprotocol/conformance, pinned in package.json) as a
 * real CLI. It reads which server scenarios a spec revision scores, and the per-scenario
 * checks.json files the suite writes with `-o DIR`.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const SUITE = join(ROOT, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');
// Node 20 lacks fs.globSync, which the suite imports by name (see register-fs-globsync.mjs).
const LOADER = join(ROOT, 'test/helpers/conformance/register-fs-globsync.mjs');

export type Revision = '2025-11-25' | '2026-07-28';

export interface Check {
  id: string;
  name: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'SKIPPED' | 'INFO';
  errorMessage?: string;
}

export interface SuiteRun {
  exitCode: number;
  output: string;
  /** checks.json of every scenario that ran, by scenario name. */
  results: Map<string, Check[]>;
}

function runSuite(args: string[], timeoutMs: number): Promise<{ exitCode: number; output: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', LOADER, SUITE, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(new Error(`conformance ${args[0]} failed to run: ${err.message}\n${stderr}`));
      resolve({ exitCode: err ? (err.code as number) : 0, output: stdout + stderr });
    });
  });
}

/** The server scenarios a revision scores, as the suite itself lists them (its frozen requirement set). */
export async function scoredServerScenarios(revision: Revision): Promise<string[]> {
  const { exitCode, output } = await runSuite(['list', '--requirements', revision, '--server'], 60_000);
  if (exitCode !== 0) throw new Error(`conformance list --requirements ${revision} exited ${exitCode}:\n${output}`);
  const lines = output.split('\n');
  const start = lines.findIndex((l) => l.startsWith('Server scenarios'));
  if (start < 0) throw new Error(`no "Server scenarios" section in:\n${output}`);
  const names: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const m = /^ {2}- (\S+)$/.exec(line);
    if (!m) break;
    names.push(m[1]);
  }
  return names;
}

/** `conformance server --url URL --requirements REVISION -o OUTDIR`, with every scenario's checks. */
export async function runServerSuite(url: string, revision: Revision, outDir: string): Promise<SuiteRun> {
  const { exitCode, output } = await runSuite(['server', '--url', url, '--requirements', revision, '-o', outDir], 600_000);
  const results = new Map<string, Check[]>();
  for (const dir of readdirSync(outDir)) {
    // The suite names each result directory `server-<scenario>-<ISO time with : and . as ->`.
    const m = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/.exec(dir);
    if (!m) continue;
    const file = join(outDir, dir, 'checks.json');
    if (existsSync(file)) {
      results.set(m[1], JSON.parse(readFileSync(file, 'utf8')) as Check[]);
    } else {
      // The scenario threw before writing its checks; the suite prints why and counts it as failed.
      const why = new RegExp(`Failed to run scenario ${m[1]}:(.*)`).exec(output)?.[1]?.trim() ?? 'see the suite output';
      results.set(m[1], [{ id: m[1], name: m[1], status: 'FAILURE', errorMessage: `the scenario crashed: ${why}` }]);
    }
  }
  return { exitCode, output, results };
}

/**
 * What went wrong in the scored scenarios, one line per failing check: '' when every scored scenario
 * ran and none has a FAILURE (the suite's own pass rule; WARNING does not fail a scenario).
 */
export function scoredFailures(run: SuiteRun, scored: string[]): string {
  const lines: string[] = [];
  for (const scenario of scored) {
    const checks = run.results.get(scenario);
    if (!checks) {
      lines.push(`${scenario}: did not run (no checks.json)`);
      continue;
    }
    for (const c of checks.filter((c) => c.status === 'FAILURE')) {
      const why = (c.errorMessage ?? '').replace(/\s+/g, ' ');
      lines.push(`${scenario}: ${c.id}: ${why.length > 400 ? `${why.slice(0, 400)}…` : why}`);
    }
  }
  if (!lines.length) return '';
  const failing = new Set(lines.map((l) => l.slice(0, l.indexOf(':'))));
  return `${failing.size} of ${scored.length} scored scenarios fail:\n${lines.join('\n')}`;
}

/** Counts over the scored scenarios, for the test log. */
export function scoredCounts(run: SuiteRun, scored: string[]): { scenariosPassed: number; checksPassed: number; warnings: number } {
  let scenariosPassed = 0;
  let checksPassed = 0;
  let warnings = 0;
  for (const scenario of scored) {
    const checks = run.results.get(scenario);
    if (!checks) continue;
    if (!checks.some((c) => c.status === 'FAILURE')) scenariosPassed++;
    checksPassed += checks.filter((c) => c.status === 'SUCCESS').length;
    warnings += checks.filter((c) => c.status === 'WARNING').length;
  }
  return { scenariosPassed, checksPassed, warnings };
}
