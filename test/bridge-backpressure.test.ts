/**
 * A child that stops reading its stdin must not grow the bridge's memory without bound: once more
 * than 16 MB wait for it, new requests get an immediate JSON-RPC error, and the bridge keeps serving.
 */
import { afterAll, expect, test } from '@jest/globals';
import { bridgeArgs, JSON_HEADERS, runCli, waitReady, initializeBody, type RunningCli } from './helpers/bridge.js';

// Answers initialize, then never reads stdin again (a wedged server).
const STUCK_SERVER = `
const rl = require('node:readline').createInterface({ input: process.stdin });
rl.on('line', (l) => {
  const m = JSON.parse(l);
  if (m.method === 'initialize') {
    process.stdout.write(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'stuck', version: '1' } } }) + '\\n');
  }
  if (m.method === 'notifications/initialized') { rl.close(); process.stdin.pause(); }
});
setInterval(() => {}, 1000);
`;

let bridge: RunningCli | undefined;
afterAll(async () => bridge?.stop());

test('a child that stops reading stdin: requests beyond 16 MB pending are refused at once, the bridge stays up', async () => {
  bridge = await runCli(bridgeArgs([process.execPath, '-e', STUCK_SERVER]));
  await waitReady(bridge);
  const init = await fetch(`${bridge.url}/mcp`, { method: 'POST', headers: JSON_HEADERS, body: initializeBody() });
  const sid = init.headers.get('mcp-session-id')!;
  expect(sid).toBeTruthy();
  const headers = { ...JSON_HEADERS, 'mcp-session-id': sid, 'mcp-protocol-version': '2025-11-25' };
  const big = 'x'.repeat(3_500_000);
  const controllers: AbortController[] = [];
  let refused: { status: number; body: any } | undefined;
  // Each request carries 3.5 MB the child never reads; after ~5 of them the bridge must refuse.
  for (let i = 0; i < 12 && !refused; i++) {
    const ac = new AbortController();
    controllers.push(ac);
    const res = fetch(`${bridge.url}/mcp`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: i + 10, method: 'tools/call', params: { name: 'echo', arguments: { big } } }),
      signal: ac.signal,
    }).catch(() => undefined);
    // A refused request answers at once; an accepted one hangs (the child never answers).
    const settled = await Promise.race([res, new Promise((r) => setTimeout(() => r('pending'), 300))]);
    if (settled && settled !== 'pending') {
      const r = settled as Response;
      refused = { status: r.status, body: await r.json() };
    }
  }
  expect(refused).toBeDefined();
  expect(refused!.body.error.code).toBe(-32603);
  expect(refused!.body.error.message).toMatch(/not reading its input/);
  const status = await bridge.status();
  expect(status.bridgeRssBytes!).toBeLessThan(400 * 1024 * 1024);
  // Still serving: /status answers and a new session can be opened.
  const again = await fetch(`${bridge.url}/mcp`, { method: 'POST', headers: JSON_HEADERS, body: initializeBody(2) });
  expect(again.status).toBe(200);
  for (const c of controllers) c.abort();
});
