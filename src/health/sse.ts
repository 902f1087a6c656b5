import { performance } from 'node:perf_hooks';
import {
  INIT_ID,
  INITIALIZED_BODY,
  initializeBody,
  messageWithId,
  parseJson,
  PING_BODY,
  PING_ID,
  readInitializeAnswer,
  snippet,
  statusFailure,
  transportFailure,
  type Handshake,
  type ProbeContext,
} from './session.js';
import { exchangeAny, readText, SseReader } from './wire.js';

/**
 * The legacy SSE handshake: GET the stream, read `event: endpoint` (without waiting for more),
 * POST initialize to that endpoint and read the answer from the stream. Closing the stream ends
 * the session on the server.
 */
export async function openSseSession(url: URL, ctx: ProbeContext): Promise<Handshake> {
  const t0 = performance.now();
  const ex = await exchangeAny(url, { method: 'GET', headers: { accept: 'text/event-stream' }, timeoutMs: ctx.timeoutMs }, ctx.addresses);
  if (ex.kind !== 'response') return transportFailure(ex);
  const type = String(ex.headers['content-type'] ?? '').toLowerCase();
  if (ex.status >= 300) {
    const body = await readText(ex.res, ctx.timeoutMs, 4096).catch(() => '');
    const failure = statusFailure(ex.status, 'SSE');
    if (body) failure.message += ` ("${snippet(body)}")`;
    return failure;
  }
  if (!type.includes('text/event-stream')) {
    const body = await readText(ex.res, ctx.timeoutMs, 4096).catch(() => '');
    return {
      ok: false,
      diagnosis: 'not-mcp',
      status: ex.status,
      message: `GET answered ${ex.status} with ${type || 'no content type'}${body ? ` ("${snippet(body)}")` : ''}, not an event stream`,
      tryOthers: true,
    };
  }
  const stream = new SseReader(ex.res);
  const fail = (message: string, diagnosis: 'not-mcp' | 'timeout' | 'http-error' = 'not-mcp', tryOthers = false): Handshake => {
    stream.close();
    return { ok: false, diagnosis, status: ex.status, message, tryOthers };
  };
  let endpoint: URL;
  try {
    const data = await stream.until((e) => (e.event === 'endpoint' ? e.data : undefined), ctx.timeoutMs);
    endpoint = new URL(data.trim(), url);
  } catch (err) {
    return fail(`an event stream without an "endpoint" event (${(err as Error).message}): not a legacy MCP SSE endpoint`, 'not-mcp', true);
  }
  // Never post a probe anywhere but the daemon that was asked about.
  if (endpoint.origin !== url.origin) return fail(`its endpoint event points at another server (${endpoint.origin})`);

  const post = async (body: string): Promise<string | undefined> => {
    const p = await exchangeAny(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body, timeoutMs: ctx.timeoutMs }, ctx.addresses);
    if (p.kind !== 'response') return p.message;
    const text = await readText(p.res, ctx.timeoutMs, 4096).catch(() => '');
    return p.status >= 300 ? `POST ${endpoint.pathname} got HTTP ${p.status}${text ? ` ("${snippet(text)}")` : ''}` : undefined;
  };
  const answer = (id: number) => stream.until((e) => (e.event === 'message' ? messageWithId(parseJson(e.data), id) : undefined), ctx.timeoutMs);

  const posted = await post(initializeBody());
  if (posted) return fail(`the endpoint refused initialize: ${posted}`, 'http-error');
  let msg: Record<string, unknown>;
  try {
    msg = await answer(INIT_ID);
  } catch (err) {
    return fail(`opened the stream, but no answer to initialize came on it: ${(err as Error).message}`, 'timeout');
  }
  const init = readInitializeAnswer(msg);
  if (!init.ok) {
    stream.close();
    return init;
  }
  return {
    ...init,
    latencyMs: performance.now() - t0,
    session: {
      async ping() {
        const failed = (await post(INITIALIZED_BODY)) ?? (await post(PING_BODY));
        if (failed) return failed;
        try {
          const pong = await answer(PING_ID);
          return pong.error ? `ping failed: ${JSON.stringify(pong.error)}` : undefined;
        } catch (err) {
          return `no answer to ping: ${(err as Error).message}`;
        }
      },
      async close() {
        stream.close();
      },
    },
  };
}
