/**
 * Progress routing under concurrency: several clients at once call server-everything's
 * long-running tool with a progress token, and each counts the `notifications/progress` it gets.
 *
 * Client i asks for `steps = BASE_STEPS + i` steps, and the server echoes `total: steps` in every
 * update, so each update says whose operation it belongs to even when tokens are equal. Per client:
 *  - own:     updates for its operation received before its result (what a client can use);
 *  - late:    its updates that arrived after the result (the SDK Client drops these: "unknown token");
 *  - foreign: updates of another client's operation (misrouted progress);
 *  - lost:    expected (= steps) minus distinct own updates received before the result; `missing`
 *             lists which step numbers those were (e.g. only the last one);
 * and whether its result is its own: the tool answers "... Steps: N.", so a result naming another
 * step count (or not the tool's answer at all) is someone else's reply (wrongResult).
 * Two token variants: `unique` (every client its own token) and `shared` (every client the same
 * token, 1), which is what happens with SDK clients, whose token is their request id: the ids of
 * sessions that did the same things line up, so their tokens collide at the gateway.
 */
import { CallToolResultSchema, ProgressNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { textOf, withTimeout } from './load.mjs';

const BASE_STEPS = 8;
const LATE_GRACE_MS = 500; // after the last result, how long stray updates are still counted

/** Finds server-everything's long-running tool by name through the gateway (its name has changed over versions). */
export async function findLongRunningTool(client) {
  const { tools } = await client.listTools();
  const tool = tools.find((t) => /long.?running/i.test(t.name));
  if (!tool) throw new Error(`no long-running tool in tools/list: ${tools.map((t) => t.name).join(', ')}`);
  return tool.name;
}

/**
 * Runs one variant on already-connected clients (fresh sessions: no other traffic on them).
 * Never hangs: each call has a timeout; a failed call is counted with its error.
 */
export async function progressRound({ clients, tool, variant, durationSec, callTimeoutMs }) {
  const per = clients.map((c, i) => ({
    steps: BASE_STEPS + i,
    token: variant === 'shared' ? 1 : `bench-progress-${i}`,
    updates: [],
    done: false,
    error: undefined,
    result: undefined,
  }));
  clients.forEach((c, i) => {
    // Replaces the SDK's own progress dispatch (which is keyed by its request ids): record everything.
    c.client.setNotificationHandler(ProgressNotificationSchema, (n) => {
      per[i].updates.push({ token: n.params.progressToken, progress: n.params.progress, total: n.params.total, afterResult: per[i].done });
    });
  });
  await Promise.all(
    clients.map(async (c, i) => {
      const p = per[i];
      try {
        const call = c.client.request(
          { method: 'tools/call', params: { name: tool, arguments: { duration: durationSec, steps: p.steps }, _meta: { progressToken: p.token } } },
          CallToolResultSchema,
          { timeout: callTimeoutMs },
        );
        p.result = textOf(await withTimeout(call, callTimeoutMs + 1000, 'long-running call'));
      } catch (err) {
        p.error = String(err?.message ?? err).slice(0, 200);
      }
      p.done = true;
    }),
  );
  await new Promise((r) => setTimeout(r, LATE_GRACE_MS));

  const perClient = per.map((p) => {
    const mine = p.updates.filter((u) => u.total === p.steps && u.token === p.token);
    const ownBefore = new Set(mine.filter((u) => !u.afterResult).map((u) => u.progress));
    return {
      wrongResult: !p.error && !p.result?.includes(`Steps: ${p.steps}.`),
      result: p.result?.slice(0, 120),
      missing: Array.from({ length: p.steps }, (_, k) => k + 1).filter((k) => !ownBefore.has(k)),
      expected: p.steps,
      own: ownBefore.size,
      late: mine.filter((u) => u.afterResult).length,
      foreign: p.updates.length - mine.length,
      duplicates: mine.filter((u) => !u.afterResult).length - ownBefore.size,
      lost: p.steps - ownBefore.size,
      error: p.error,
    };
  });
  const sum = (k) => perClient.reduce((a, p) => a + p[k], 0);
  return {
    variant,
    clients: clients.length,
    expected: sum('expected'),
    received: sum('own'),
    lost: sum('lost'),
    late: sum('late'),
    foreign: sum('foreign'),
    duplicates: sum('duplicates'),
    failedCalls: perClient.filter((p) => p.error).length,
    wrongResults: perClient.filter((p) => p.wrongResult).length,
    errors: [...new Set(perClient.map((p) => p.error).filter(Boolean))].slice(0, 3),
    perClient,
  };
}
