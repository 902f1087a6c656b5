/**
 * The official MCP conformance suite, for both protocol eras, run through `mcpshare bridge` with a
 * 2025-style stdio server behind it (test/fixtures/conformance-server.mjs provides every tool, prompt
 * and resource the scenarios call).
 *
 * - 2025-11-25: sessions (initialize, Mcp-Session-Id). Every scored scenario must pass.
 * - 2026-07-28: stateless requests (per-request _meta, server/discover, input_required,
 *   subscriptions/listen). Every scored scenario must pass. What each scenario sends and checks:
 *   /work/notes/conformance-2026.md.
 *
 * Each revision gets a fresh bridge, so neither run depends on what the other left behind. A failure
 * lists each failing check with the suite's reason.
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bridgeArgs, ROOT, runCli, waitReady, type RunningCli } from './helpers/bridge.js';
import { runServerSuite, scoredCounts, scoredFailures, scoredServerScenarios, type Revision } from './helpers/conformance/suite.js';

const FIXTURE = join(ROOT, 'test/fixtures/conformance-server.mjs');

// The frozen requirement sets score this many server scenarios. If the suite ever lists fewer, a
// parsing slip could make an empty run look green.
const SCORED_COUNT: Record<Revision, number> = { '2025-11-25': 30, '2026-07-28': 37 };

let bridge: RunningCli | undefined;
let outDir: string | undefined;

afterEach(async () => {
  await bridge?.stop();
  bridge = undefined;
  if (outDir) rmSync(outDir, { recursive: true, force: true });
  outDir = undefined;
});

describe.each(['2025-11-25', '2026-07-28'] as const)('conformance suite, requirements %s, through the bridge', (revision) => {
  test('every scored server scenario passes', async () => {
    const scored = await scoredServerScenarios(revision);
    expect(scored).toHaveLength(SCORED_COUNT[revision]);

    bridge = await runCli(bridgeArgs([process.execPath, FIXTURE]));
    await waitReady(bridge);
    outDir = mkdtempSync(join(tmpdir(), `mcpshare-conformance-${revision}-`));

    const run = await runServerSuite(`${bridge.url}/mcp`, revision, outDir);
    const counts = scoredCounts(run, scored);
    console.log(
      `conformance ${revision}: ${counts.scenariosPassed}/${scored.length} scored scenarios pass ` +
        `(${counts.checksPassed} checks passed, ${counts.warnings} warnings); suite exit code ${run.exitCode}`,
    );

    // Thrown rather than compared, so the list of failing checks reads as plain lines.
    const report = scoredFailures(run, scored);
    if (report) throw new Error(`conformance ${revision}: ${report}`);
    // The suite's own verdict agrees: its exit code covers exactly the scored scenarios.
    expect(run.exitCode).toBe(0);
  }, 300_000);
});
