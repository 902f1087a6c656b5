/**
 * --fail-fast (what units run the bridge with): a server that cannot start makes the bridge exit at
 * once, so systemd/launchd count and limit the retries; a server that was up is still restarted in
 * place, keeping every client session.
 */
import { expect, test } from '@jest/globals';
import { bridgeArgs, connect, disconnect, FIXTURE, runCli, waitReady } from './helpers/bridge.js';
import { sleep, waitFor } from './helpers/wait.js';

test('a server that dies before its first ready: exit 1 at once, one start, the reason and its stderr', async () => {
  const b = await runCli(bridgeArgs(['node', FIXTURE], ['--fail-fast']), { FIXTURE_EXIT_AT_START: '3' }, false);
  const exit = await Promise.race([b.exited, sleep(15_000).then(() => 'timeout' as const)]);
  expect(exit).toEqual({ code: 1, signal: null });
  expect(b.stderr()).toMatch(/stopped before it became ready \(the MCP server exited with code 3\); its last stderr line: fixture: exiting at start as asked/);
  expect(b.stderr().match(/started MCP server/g)).toHaveLength(1);
  expect(b.stderr()).not.toMatch(/restarting the MCP server/);
});

test('without --fail-fast the same server is retried in place until the crash-loop limit', async () => {
  const b = await runCli(bridgeArgs(['node', FIXTURE], ['--restart-limit', '3']), { FIXTURE_EXIT_AT_START: '3' }, false);
  const exit = await Promise.race([b.exited, sleep(20_000).then(() => 'timeout' as const)]);
  expect(exit).toEqual({ code: 1, signal: null });
  expect(b.stderr().match(/started MCP server/g)).toHaveLength(3);
  expect(b.stderr()).toMatch(/crash loop: the MCP server stopped 3 times/);
});

test('with --fail-fast, a server that was up and then dies is restarted in place; the session survives', async () => {
  const b = await runCli(bridgeArgs(['node', FIXTURE], ['--fail-fast']));
  try {
    const first = await waitReady(b);
    const client = await connect(b.url, 'http');
    process.kill(first.child.pid!, 'SIGKILL');
    const after = await waitFor(
      async () => {
        const s = await b.status();
        return s.child.state === 'ready' && s.child.pid !== first.child.pid ? s : undefined;
      },
      'the restarted child',
      15_000,
    );
    expect(after!.child.restarts).toBe(1);
    expect(b.proc.exitCode).toBeNull();
    // The same session goes on working against the new child.
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    await disconnect(client);
  } finally {
    await b.stop();
  }
});
