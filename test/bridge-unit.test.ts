import { describe, expect, test } from '@jest/globals';
import { LATEST_PROTOCOL_VERSION as SDK_LATEST, SUPPORTED_PROTOCOL_VERSIONS as SDK_SUPPORTED } from '@modelcontextprotocol/sdk/types.js';
import { LineDecoder, MAX_LINE_BYTES } from '../src/bridge/framing.js';
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '../src/bridge/protocol.js';

describe('child stdout framing', () => {
  test('messages split across chunks and several per chunk', () => {
    const d = new LineDecoder();
    const a = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { text: 'ü'.repeat(10) } });
    const b = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 1 } });
    const bytes = Buffer.from(`${a}\n${b}\r\n`);
    const frames = [...d.push(bytes.subarray(0, 17)), ...d.push(bytes.subarray(17, 40)), ...d.push(bytes.subarray(40))];
    expect(frames).toEqual([{ message: JSON.parse(a) }, { message: JSON.parse(b) }]);
  });

  test('junk lines are reported, not fatal, and do not swallow the next message', () => {
    const d = new LineDecoder();
    const frames = d.push(Buffer.from('Server starting...\n{"not":"jsonrpc"}\n[1,2]\n\n{"jsonrpc":"2.0","id":"x","error":{"code":1,"message":"m"}}\n'));
    expect(frames.map((f) => ('junk' in f ? 'junk' : 'msg'))).toEqual(['junk', 'junk', 'junk', 'msg']);
  });

  test('an oversize line is dropped and framing recovers', () => {
    const d = new LineDecoder();
    const big = Buffer.alloc(1024 * 1024, 'x');
    const frames = [];
    for (let sent = 0; sent <= MAX_LINE_BYTES; sent += big.length) frames.push(...d.push(big));
    frames.push(...d.push(Buffer.from('tail\n{"jsonrpc":"2.0","method":"ok"}\n')));
    expect(frames).toEqual([{ junk: expect.stringContaining('longer than') }, { message: { jsonrpc: '2.0', method: 'ok' } }]);
  });
});

test('the bridge negotiates exactly the versions the SDK supports', () => {
  expect(LATEST_PROTOCOL_VERSION).toBe(SDK_LATEST);
  expect([...SUPPORTED_PROTOCOL_VERSIONS]).toEqual([...SDK_SUPPORTED]);
});

test('the CLI shebang runs node with the memory flags', async () => {
  const { readFileSync } = await import('node:fs');
  const { NODE_MEMORY_FLAGS } = await import('../src/runtime.js');
  const shebang = readFileSync(new URL('../src/cli.ts', import.meta.url), 'utf8').split('\n')[0];
  expect(shebang).toBe(`#!/usr/bin/env -S node ${NODE_MEMORY_FLAGS.join(' ')}`);
});
