import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { bridgeArgs, connect, EVERYTHING, runCli, textOf, waitReady, type RunningCli } from './helpers/bridge.js';

describe('smoke', () => {
  let b: RunningCli;
  beforeAll(async () => {
    b = await runCli(bridgeArgs([process.execPath, EVERYTHING, 'stdio']));
    await waitReady(b);
  });
  afterAll(async () => b?.stop());
  test('echo through /mcp and /sse', async () => {
    const c1 = await connect(b.url, 'http');
    const c2 = await connect(b.url, 'sse');
    expect(textOf(await c1.callTool({ name: 'echo', arguments: { message: 'one' } }))).toContain('one');
    expect(textOf(await c2.callTool({ name: 'echo', arguments: { message: 'two' } }))).toContain('two');
    await c1.close();
    await c2.close();
  });
});
