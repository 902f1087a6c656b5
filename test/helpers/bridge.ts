/**
 * Test helpers: run the real `mcpshare bridge` CLI as a child process (exactly as a user or a
 * systemd unit would) and connect real SDK clients to it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import { DEFAULT_RESTART_POLICY, type ServerEntry } from '../../src/registry/registry.js';
import { NODE_MEMORY_FLAGS } from '../../src/runtime.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = `${ROOT}/dist/cli.js`;
export const FIXTURE = `${ROOT}/test/fixtures/fixture-server.mjs`;
export const EVERYTHING = `${ROOT}/node_modules/@modelcontextprotocol/server-everything/dist/index.js`;

export interface RunningCli {
  proc: ChildProcess;
  url: string;
  port: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
  status(): Promise<BridgeStatusJson>;
}

export interface BridgeStatusJson {
  name: string;
  pid: number;
  child: { pid: number | null; state: string; restarts: number; rssBytes: number | null; lastExit: { reason: string } | null };
  sessions: { 'streamable-http': number; sse: number; total: number };
  requests: { served: number; inFlight: number; queued: number };
  serverRequests: { routed: number; fallback: number };
  misroutedDropped: number;
  warnings: string[];
  bridgeRssBytes: number | null;
  [k: string]: unknown;
}

/** Runs `node dist/cli.js ARGS`, resolving once the bridge prints its URL (or rejecting if it exits). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, waitForUrl = true): Promise<RunningCli> {
  const proc = spawn(process.execPath, [...NODE_MEMORY_FLAGS, CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const make = (url: string): RunningCli => ({
    proc,
    url,
    port: url ? Number(new URL(url).port) : 0,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    },
    async status() {
      const res = await fetch(`${url}/status`);
      return (await res.json()) as BridgeStatusJson;
    },
  });
  if (!waitForUrl) return Promise.resolve(make(''));
  return new Promise((resolve, reject) => {
    const onData = () => {
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) {
        proc.stdout!.off('data', onData);
        resolve(make(m[1]));
      }
    };
    proc.stdout!.on('data', onData);
    void exited.then(({ code, signal }) => reject(new Error(`bridge exited (${code ?? signal}) before listening:\n${err}`)));
  });
}

export function bridgeArgs(command: string[], extra: string[] = []): string[] {
  return ['bridge', '--port', '0', '--name', 'test', ...extra, '--', ...command];
}

/** Waits until the bridge's /status says the child is ready. */
export async function waitReady(b: RunningCli, timeoutMs = 20000): Promise<BridgeStatusJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await b.status();
    if (s.child.state === 'ready') return s;
    if (Date.now() > deadline) throw new Error(`child not ready: ${JSON.stringify(s.child)}`);
    await sleep(50);
  }
}

export async function waitFor<T>(probe: () => T | Promise<T>, what: string, timeoutMs = 10000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type Kind = 'http' | 'sse';

export async function connect(
  base: string,
  kind: Kind,
  name = 'test-client',
  capabilities: ClientCapabilities = {},
): Promise<Client> {
  const client = new Client({ name, version: '1.0.0' }, { capabilities });
  const transport =
    kind === 'http' ? new StreamableHTTPClientTransport(new URL(`${base}/mcp`)) : new SSEClientTransport(new URL(`${base}/sse`));
  await client.connect(transport);
  transports.set(client, transport);
  return client;
}

const transports = new WeakMap<Client, StreamableHTTPClientTransport | SSEClientTransport>();

/** Leaves like a well-behaved client: DELETE the Streamable HTTP session, then close. */
export async function disconnect(client: Client): Promise<void> {
  const t = transports.get(client);
  if (t instanceof StreamableHTTPClientTransport) await t.terminateSession().catch(() => undefined);
  await client.close();
}

export function textOf(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content ?? [];
  return content.map((c) => c.text ?? '').join('');
}

export async function fixtureStats(client: Client): Promise<Record<string, any>> {
  return JSON.parse(textOf(await client.callTool({ name: 'stats', arguments: {} })));
}

/** A raw HTTP request, for the bad-input cases an SDK client never sends. */
export async function raw(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Headers; text: string; json: any }> {
  const res = await fetch(url, { method: init.method ?? 'POST', headers: init.headers, body: init.body });
  const text = res.headers.get('content-type')?.includes('text/event-stream') ? await readFirstEvent(res) : await res.text();
  return { status: res.status, headers: res.headers, text, json: parseJsonOrUndefined(text) };
}

/** The parsed body, or undefined when it is not JSON (error pages, empty bodies). */
export function parseJsonOrUndefined(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Reads one SSE `data:` payload and stops (never waits for an open stream to end). */
export async function readFirstEvent(res: Response): Promise<string> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    const m = /^data: (.*)$/m.exec(buf);
    if (m) {
      await reader.cancel();
      return m[1];
    }
  }
  return buf;
}

export const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

export function initializeBody(id: number | string = 1, protocolVersion = '2025-11-25'): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id,
    method: 'initialize',
    params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
  });
}

/** A registry entry for server-everything bridged on `port` (what `mcpshare add` would record), with overrides. */
export function everythingEntry(name: string, port: number, over: Partial<ServerEntry> = {}): ServerEntry {
  return {
    name,
    kind: 'bridged',
    transport: 'http',
    path: '/mcp',
    command: process.execPath,
    args: [EVERYTHING],
    port,
    restart: { ...DEFAULT_RESTART_POLICY },
    backend: 'supervisor',
    addedAt: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}
