/**
 * Test helpers for `mcpshare connect`: a real SDK v1 Client over StdioClientTransport spawning the
 * real CLI (what Claude Desktop does), and a raw line-level driver for what an SDK client never sends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { CONNECT_NODE_FLAGS } from '../../src/runtime.js';
import { CLI } from './bridge.js';

export interface Shim {
  client: Client;
  transport: StdioClientTransport;
  /** Everything the shim wrote to stderr so far. */
  stderr: () => string;
  /** Errors the SDK client reported (unknown ids, bad messages): a correct relay leaves this empty. */
  errors: Error[];
  pid: number;
  close(): Promise<void>;
}

/** Spawns `mcpshare connect TARGET` as a stdio server and connects an SDK client to it. */
export async function connectShim(
  target: string,
  opts: { name?: string; capabilities?: ClientCapabilities; env?: Record<string, string>; args?: string[] } = {},
): Promise<Shim> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...CONNECT_NODE_FLAGS, CLI, 'connect', target, ...(opts.args ?? [])],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...opts.env },
    stderr: 'pipe',
  });
  let err = '';
  transport.stderr?.on('data', (d) => (err += d));
  const client = new Client({ name: opts.name ?? 'shim-client', version: '1.0.0' }, { capabilities: opts.capabilities ?? {} });
  const errors: Error[] = [];
  client.onerror = (e) => errors.push(e);
  try {
    await client.connect(transport);
  } catch (e) {
    await transport.close().catch(() => undefined);
    throw Object.assign(e as Error, { stderr: err });
  }
  return {
    client,
    transport,
    stderr: () => err,
    errors,
    pid: transport.pid!,
    close: () => client.close(),
  };
}

export interface RawShim {
  proc: ChildProcess;
  send(message: unknown): void;
  /** The next message (already received or still to come) that matches. */
  next(match: (m: any) => boolean, timeoutMs?: number): Promise<any>;
  received: any[];
  stderr: () => string;
  exited: Promise<number | null>;
  end(): Promise<number | null>;
}

/** `mcpshare connect TARGET` driven line by line. */
export function rawShim(target: string, args: string[] = [], env: Record<string, string> = {}): RawShim {
  const proc = spawn(process.execPath, [...CONNECT_NODE_FLAGS, CLI, 'connect', target, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const received: any[] = [];
  const waiters: Array<{ match: (m: any) => boolean; resolve: (m: any) => void }> = [];
  let buf = '';
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  proc.stdout!.on('data', (d) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const m = JSON.parse(line); // stdout is protocol only: anything else fails the test here
      received.push(m);
      for (const w of [...waiters]) {
        if (w.match(m)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return {
    proc,
    received,
    stderr: () => err,
    exited,
    send: (message) => proc.stdin!.write(JSON.stringify(message) + '\n'),
    next(match, timeoutMs = 10000) {
      const seen = received.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(received)}; stderr: ${err}`)),
          timeoutMs,
        );
        waiters.push({ match, resolve: (m) => (clearTimeout(timer), resolve(m)) });
      });
    },
    end() {
      proc.stdin!.end();
      return exited;
    },
  };
}

export const initializeMessage = (id: unknown = 1, capabilities: ClientCapabilities = {}) => ({
  jsonrpc: '2.0',
  id,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities, clientInfo: { name: 'raw', version: '1' } },
});

/** A loopback port nothing listens on right now (for a bridge that must come back on the same one). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
