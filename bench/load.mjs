/**
 * Client side of the bench: connect real SDK clients (Streamable HTTP through the bridge, or stdio
 * straight to a server child) and drive closed-loop `tools/call echo` load, checking every reply.
 */
import http from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { EVERYTHING_SERVER, track } from './procs.mjs';

const CLIENT_INFO = { name: 'mcpshare-bench', version: '1.0.0' };

/**
 * One SDK client over Streamable HTTP to `${base}/mcp`. `streams.open` counts the standalone GET
 * SSE streams the transport opened and that are still open, so the bench can prove they exist.
 */
export async function connectHttp(base) {
  const streams = { open: 0 };
  const countingFetch = async (url, init) => {
    const res = await fetch(url, init);
    if ((init?.method ?? 'GET') === 'GET' && res.ok && res.headers.get('content-type')?.includes('text/event-stream') && res.body) {
      // Wrap the body so we notice when the stream ends (bridge closed it or we cancelled it).
      streams.open++;
      let done = false;
      const end = () => {
        if (done) return;
        done = true;
        streams.open--;
      };
      const reader = res.body.getReader();
      const body = new ReadableStream({
        async pull(ctrl) {
          try {
            const { value, done: d } = await reader.read();
            if (d) {
              end();
              ctrl.close();
            } else ctrl.enqueue(value);
          } catch (e) {
            end();
            ctrl.error(e);
          }
        },
        cancel(reason) {
          end();
          return reader.cancel(reason);
        },
      });
      return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
    }
    return res;
  };
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { fetch: countingFetch });
  const client = new Client(CLIENT_INFO, { capabilities: {} });
  await client.connect(transport);
  return {
    client,
    streams,
    /** Ends the session on the bridge (DELETE) and closes the client. */
    async close() {
      await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    },
  };
}

/**
 * One SDK client over legacy SSE (`GET ${base}/sse`, then POSTs to the endpoint it announces).
 * close() drops the GET stream, which ends the session on the server.
 */
export async function connectSse(base) {
  const transport = new SSEClientTransport(new URL(`${base}/sse`));
  const client = new Client(CLIENT_INFO, { capabilities: {} });
  await client.connect(transport);
  return {
    client,
    async close() {
      await client.close().catch(() => {});
    },
  };
}

/**
 * One SDK client over stdio to its OWN server child (what clients do without sharing), by default
 * server-everything. The child gets this process's environment plus the server's own variables.
 */
export async function connectStdio(server = EVERYTHING_SERVER) {
  const transport = new StdioClientTransport({
    command: server.command,
    args: server.args,
    env: { ...process.env, ...server.env },
    stderr: 'ignore',
  });
  const client = new Client(CLIENT_INFO, { capabilities: {} });
  try {
    await client.connect(transport);
  } finally {
    track(transport.pid, `direct stdio child (${server.id})`); // also when initialize failed
  }
  return {
    client,
    pid: transport.pid,
    async close() {
      await client.close().catch(() => {});
    },
  };
}

/**
 * A deliberately minimal Streamable HTTP client on node:http with a keep-alive agent: initialize,
 * then one POST per request, reading the whole reply (JSON or a short SSE stream). It has the same
 * `callTool`/`ping` shape as the SDK Client so the load loop can drive it. Its only purpose is to
 * split the bridge's own cost from the SDK client's (fetch/undici, web streams, SSE parsing).
 */
export async function connectRaw(base) {
  const url = new URL(`${base}/mcp`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let sessionId;
  let protocolVersion;
  let nextId = 1;
  const post = (message) =>
    new Promise((resolve, reject) => {
      const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
      if (sessionId) headers['mcp-session-id'] = sessionId;
      if (protocolVersion) headers['mcp-protocol-version'] = protocolVersion;
      const req = http.request(url, { method: 'POST', agent, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('error', reject);
        res.on('end', () => {
          sessionId ??= res.headers['mcp-session-id'];
          if (res.statusCode === 202) return resolve(undefined);
          if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${body.slice(0, 200)}`));
          // A JSON body, or SSE events whose data lines carry the messages: find our response.
          const payloads = res.headers['content-type']?.includes('text/event-stream')
            ? body
                .split('\n')
                .filter((l) => l.startsWith('data:'))
                .map((l) => l.slice(5).trim())
            : [body];
          for (const p of payloads) {
            const m = JSON.parse(p);
            if (m.id === message.id) return m.error ? reject(new Error(m.error.message)) : resolve(m.result);
          }
          reject(new Error(`no response for id ${message.id}`));
        });
      });
      req.on('error', reject);
      req.end(JSON.stringify(message));
    });
  const request = (method, params) => post({ jsonrpc: '2.0', id: nextId++, method, params });
  const init = await request('initialize', {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'mcpshare-bench-raw', version: '1.0.0' },
  });
  protocolVersion = init.protocolVersion;
  await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  return {
    client: {
      callTool: ({ name, arguments: args }) => request('tools/call', { name, arguments: args }),
      ping: () => request('ping', {}),
    },
    async close() {
      await new Promise((resolve) => {
        const req = http.request(url, { method: 'DELETE', agent, headers: { 'mcp-session-id': sessionId, 'mcp-protocol-version': protocolVersion } }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', resolve);
        req.end();
      });
      agent.destroy();
    },
  };
}

export function textOf(result) {
  return (result?.content ?? []).map((c) => c.text ?? '').join('');
}

/** Fresh correctness counters: echo replies checked, misrouted (someone else's text), failed. */
export const newCounter = () => ({ checked: 0, misrouted: 0, failed: 0, examples: [] });

/** Shared correctness counters for every call the bridge bench makes (warm-up included). */
export const correctness = newCounter();

function note(counter, kind, detail) {
  counter[kind]++;
  if (counter.examples.length < 5) counter.examples.push({ kind, ...detail });
}

/** Rejects with `what timed out` when promise has not settled within ms (the bench must never hang). */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * One echo call whose message is unique to (scenario, client, worker, seq); a reply carrying any
 * other text is counted as misrouted. Returns the latency in ms (undefined on failure).
 */
export async function echoOnce(client, message, counter = correctness) {
  const t0 = performance.now();
  try {
    const res = await client.callTool({ name: 'echo', arguments: { message } });
    const ms = performance.now() - t0;
    const got = textOf(res);
    counter.checked++;
    if (got !== `Echo: ${message}`) note(counter, 'misrouted', { sent: message, got: got.slice(0, 200) });
    return ms;
  } catch (err) {
    note(counter, 'failed', { sent: message, error: String(err?.message ?? err).slice(0, 200) });
    return undefined;
  }
}

/** One `ping` round trip (the bridge answers it itself; a direct child answers it over stdio). */
async function pingOnce(client, counter = correctness) {
  const t0 = performance.now();
  try {
    await client.ping();
    return performance.now() - t0;
  } catch (err) {
    note(counter, 'failed', { sent: 'ping', error: String(err?.message ?? err).slice(0, 200) });
    return undefined;
  }
}

/**
 * Closed-loop load: every client runs `inFlight` workers, each issuing its next call as soon as the
 * previous one returns. A warm-up phase (not recorded) precedes a measured phase of fixed length.
 * `cpuProbe()` returns cumulative CPU ms per process; it is sampled around the measured phase.
 * Every reply is checked into `counter` (default: the shared one).
 * Returns the raw sample: latencies (ms), elapsed ms and CPU ms per process; see summarize().
 */
export async function runLoad({ tag, clients, inFlight, warmupMs, measureMs, method = 'echo', cpuProbe, counter = correctness }) {
  let seq = 0;
  const phase = async (ms, lat) => {
    const deadline = performance.now() + ms;
    const worker = async (client, ci, wi) => {
      while (performance.now() < deadline) {
        const ms = method === 'ping' ? await pingOnce(client, counter) : await echoOnce(client, `${tag}|c${ci}|w${wi}|${seq++}`, counter);
        if (lat && ms !== undefined) lat.push(ms);
      }
    };
    const t0 = performance.now();
    await Promise.all(clients.flatMap((c, ci) => Array.from({ length: inFlight }, (_, wi) => worker(c, ci, wi))));
    return performance.now() - t0;
  };

  if (warmupMs > 0) await phase(warmupMs, null);
  const lat = [];
  const cpu0 = cpuProbe?.() ?? {};
  const elapsedMs = await phase(measureMs, lat);
  const cpu1 = cpuProbe?.() ?? {};
  const cpuMs = Object.fromEntries(Object.keys(cpu1).map((k) => [k, cpu1[k] - cpu0[k]]));
  return { lat, elapsedMs, cpuMs };
}

/** Merges samples (e.g. several rounds of one case) into percentiles, calls/s and CPU µs per call. */
export function summarize(samples) {
  const sorted = Float64Array.from(samples.flatMap((s) => s.lat)).sort();
  const n = sorted.length;
  const elapsedMs = samples.reduce((a, s) => a + s.elapsedMs, 0);
  const pct = (p) => (n ? sorted[Math.min(n - 1, Math.ceil((p / 100) * n) - 1)] : NaN);
  const cpuUsPerCall = {};
  for (const s of samples) for (const [k, v] of Object.entries(s.cpuMs)) cpuUsPerCall[k] = (cpuUsPerCall[k] ?? 0) + v;
  for (const k of Object.keys(cpuUsPerCall)) cpuUsPerCall[k] = n ? (cpuUsPerCall[k] * 1000) / n : NaN;
  return {
    calls: n,
    elapsedMs,
    callsPerSec: (n * 1000) / elapsedMs,
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    max: n ? sorted[n - 1] : NaN,
    mean: sorted.reduce((a, b) => a + b, 0) / (n || 1),
    // p50 of each round separately: shows how much the machine drifted during the case.
    roundP50s: samples.map((s) => p50Of(s.lat)),
    cpuUsPerCall,
  };
}

function p50Of(lat) {
  const sorted = Float64Array.from(lat).sort();
  return sorted.length ? sorted[Math.ceil(0.5 * sorted.length) - 1] : NaN;
}

/** Runs fn over items with at most `limit` at a time; resolves with settled results in order. */
export async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = { ok: true, value: await fn(items[i], i) };
      } catch (error) {
        out[i] = { ok: false, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}
