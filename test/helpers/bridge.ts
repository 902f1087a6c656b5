/**
 * Test helpers: run the real `mcpshare bridge` CLI as a child process (exactly as a user or a
 * systemd unit would), connect real SDK clients to it, read its /status (the product's own
 * BridgeStatus type), and clean up after a test (BridgesAndClients).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';
import type { BridgeStatus } from '../../src/bridge/status.js';
import { DEFAULT_RESTART_POLICY, type ServerEntry } from '../../src/registry/registry.js';
import { NODE_MEMORY_FLAGS } from '../../src/runtime.js';
import { killLeftovers } from './procs.js';
import { waitFor } from './wait.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = `${ROOT}/dist/cli.js`;
export const FIXTURE = `${ROOT}/test/fixtures/fixture-server.mjs`;
export const EVERYTHING = `${ROOT}/node_modules/@modelcontextprotocol/server-everything/dist/index.js`;
/** The fixture server as a bridge's command. */
export const FIXTURE_CMD = [process.execPath, FIXTURE];

export interface RunningCli {
  proc: ChildProcess;
  url: string;
  port: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
  status(): Promise<BridgeStatus>;
}

/**
 * Bridges run by tests keep their state (session key, session records, discovery snapshots) here,
 * never in the state directory of the user running the tests; a test that cares passes its own
 * --state-dir, HOME or XDG_STATE_HOME.
 */
let testState: string | undefined;
function testStateHome(): string {
  if (!testState) {
    testState = mkdtempSync(join(tmpdir(), 'mcpshare-test-state-'));
    const dir = testState;
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return testState;
}

/** Runs `node dist/cli.js ARGS`, resolving once the bridge prints its URL (or rejecting if it exits). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, waitForUrl = true): Promise<RunningCli> {
  const proc = spawn(process.execPath, [...NODE_MEMORY_FLAGS, CLI, ...args], {
    env: { ...process.env, XDG_STATE_HOME: testStateHome(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
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
      return (await res.json()) as BridgeStatus;
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
export async function waitReady(b: RunningCli, timeoutMs = 20000): Promise<BridgeStatus> {
  let last: BridgeStatus | undefined;
  return waitFor(
    async () => {
      last = await b.status();
      return last.child.state === 'ready' && last;
    },
    'the child to be ready',
    timeoutMs,
    { seen: () => `child: ${JSON.stringify(last?.child)}` },
  );
}

/** Waits until the child is ready again with a pid other than `oldPid`. */
export async function waitRestarted(b: RunningCli, oldPid: number, timeoutMs = 15_000): Promise<BridgeStatus> {
  let last: BridgeStatus | undefined;
  return waitFor(
    async () => {
      last = await b.status();
      return last.child.state === 'ready' && last.child.pid !== null && last.child.pid !== oldPid && last;
    },
    'the child to be restarted and ready',
    timeoutMs,
    { seen: () => `child: ${JSON.stringify(last?.child)}` },
  );
}

/** GET /status of a bridge on 127.0.0.1:port; undefined when nothing answers (yet). */
export async function bridgeStatus(port: number): Promise<BridgeStatus | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/status`, { signal: AbortSignal.timeout(3000) });
    return (await res.json()) as BridgeStatus;
  } catch {
    return undefined;
  }
}

/** Every child pid a bridge logged ("started MCP server: pid N"). */
export function startedPids(stderr: string): number[] {
  return [...stderr.matchAll(/started MCP server: pid (\d+)/g)].map((m) => Number(m[1]));
}

/**
 * The bridges and clients a test file starts, so one afterEach stops them all:
 *   const started = new BridgesAndClients(['fixture-server.mjs']);
 *   const { bridge, client } = started;                 // bound: they may be passed around
 *   afterEach(() => started.cleanup());
 *   const b = await bridge(['--restart-limit', '3']);  const c = await client(b, 'http', 'a');
 */
export class BridgesAndClients {
  readonly bridges: RunningCli[] = [];
  readonly clients: Client[] = [];

  /** `markers`: command-line marks of this file's processes; cleanup() SIGKILLs leftovers carrying one. */
  constructor(private readonly markers: string[] = []) {}

  /** `mcpshare bridge --port 0 --name test EXTRA -- COMMAND`, stopped by cleanup(). */
  readonly bridge = async (extra: string[], env: NodeJS.ProcessEnv = {}, command: string[] = FIXTURE_CMD, waitForUrl = true): Promise<RunningCli> => {
    const b = await runCli(bridgeArgs(command, extra), env, waitForUrl);
    this.bridges.push(b);
    return b;
  };

  /** A real SDK client of `b` (or of a base URL), closed by cleanup(). */
  readonly client = async (b: RunningCli | string, kind: Kind, name: string, capabilities: ClientCapabilities = {}): Promise<Client> => {
    const c = await connect(typeof b === 'string' ? b : b.url, kind, name, capabilities);
    this.clients.push(c);
    return c;
  };

  /** Closes the clients, stops the bridges, and kills what a failed test left of their children's groups. */
  async cleanup(): Promise<void> {
    await Promise.allSettled(this.clients.splice(0).map((c) => c.close()));
    const stopping = this.bridges.splice(0);
    await Promise.allSettled(stopping.map((b) => b.stop()));
    if (this.markers.length) for (const b of stopping) for (const pid of startedPids(b.stderr())) killLeftovers(pid, this.markers);
  }
}

export type Kind = 'http' | 'sse';

export async function connect(base: string, kind: Kind, name = 'test-client', capabilities: ClientCapabilities = {}): Promise<Client> {
  const client = new Client({ name, version: '1.0.0' }, { capabilities });
  const transport = kind === 'http' ? new StreamableHTTPClientTransport(new URL(`${base}/mcp`)) : new SSEClientTransport(new URL(`${base}/sse`));
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
