import type { IncomingMessage } from 'node:http';
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
  singleClient,
  snippet,
  statusFailure,
  transportFailure,
  type Failed,
  type Handshake,
  type ProbeContext,
} from './session.js';
import { exchangeAny, readSseUntil, readText } from './wire.js';

/**
 * The Streamable HTTP handshake: POST initialize (accepting JSON or an event stream), read the
 * answer, and hand back a session that can ping and is closed with DELETE.
 */
const ACCEPT = 'application/json, text/event-stream';

export async function openHttpSession(url: URL, ctx: ProbeContext): Promise<Handshake> {
  const t0 = performance.now();
  const ex = await exchangeAny(
    url,
    { method: 'POST', headers: { 'content-type': 'application/json', accept: ACCEPT }, body: initializeBody(), timeoutMs: ctx.timeoutMs },
    ctx.addresses,
  );
  if (ex.kind !== 'response') return transportFailure(ex);
  const sessionId = headerValue(ex.res, 'mcp-session-id');
  const answer = await readAnswer(ex.res, INIT_ID, ctx.timeoutMs);
  const init = 'failure' in answer ? answer.failure : readInitializeAnswer(answer.msg);
  const protocolVersion = init.ok ? init.protocolVersion : '';
  const headers = (): Record<string, string> => ({
    ...(sessionId ? { 'mcp-session-id': sessionId } : {}),
    ...(protocolVersion ? { 'mcp-protocol-version': protocolVersion } : {}),
  });
  const close = async () => {
    if (!sessionId) return; // a stateless server keeps nothing to end
    const d = await exchangeAny(url, { method: 'DELETE', headers: headers(), timeoutMs: ctx.timeoutMs }, ctx.addresses);
    if (d.kind === 'response') d.res.resume(); // 200, or 405 from a server that does not let clients end sessions
  };
  if (!init.ok) {
    // The server may have opened a session before failing (or answering too late): end it anyway.
    await close();
    return init;
  }
  const latencyMs = performance.now() - t0;
  return {
    ...init,
    latencyMs,
    session: {
      async ping() {
        const note = await exchangeAny(
          url,
          { method: 'POST', headers: { 'content-type': 'application/json', accept: ACCEPT, ...headers() }, body: INITIALIZED_BODY, timeoutMs: ctx.timeoutMs },
          ctx.addresses,
        );
        if (note.kind !== 'response') return note.message;
        note.res.resume();
        if (note.status >= 300) return `notifications/initialized got HTTP ${note.status}`;
        const p = await exchangeAny(
          url,
          { method: 'POST', headers: { 'content-type': 'application/json', accept: ACCEPT, ...headers() }, body: PING_BODY, timeoutMs: ctx.timeoutMs },
          ctx.addresses,
        );
        if (p.kind !== 'response') return p.message;
        const a = await readAnswer(p.res, PING_ID, ctx.timeoutMs);
        if ('failure' in a) return a.failure.message;
        if (a.msg.error) return `ping failed: ${JSON.stringify(a.msg.error)}`;
        return undefined;
      },
      close,
    },
  };
}

function headerValue(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Reads the JSON-RPC answer with `id` from a JSON body or an event stream, then stops reading. */
async function readAnswer(res: IncomingMessage, id: number, timeoutMs: number): Promise<{ msg: Record<string, unknown> } | { failure: Failed }> {
  const status = res.statusCode ?? 0;
  const type = String(res.headers['content-type'] ?? '').toLowerCase();
  try {
    if (type.includes('text/event-stream') && status < 300) {
      const msg = await readSseUntil(res, timeoutMs, (e) => (e.event === 'message' ? messageWithId(parseJson(e.data), id) : undefined));
      res.destroy(); // the stream may stay open; the answer is all a probe needs
      return { msg };
    }
    const text = await readText(res, timeoutMs);
    const parsed = type.includes('json') || text.trimStart().startsWith('{') ? parseJson(text) : undefined;
    if (status >= 300) {
      const error = jsonRpcError(parsed)?.error as { message?: unknown } | undefined;
      const reason = typeof error?.message === 'string' ? error.message : '';
      // A fresh initialize carries no session id, so "already initialized" (the SDK's single-transport
      // servers) or "session not found" (the same server after its one session ended) means the
      // server takes no new client.
      if (status < 500 && /already initiali[sz]ed|session/i.test(reason)) return { failure: singleClient(reason, status) };
      const failure = statusFailure(status, 'Streamable HTTP');
      if (reason || text) failure.message += ` ("${snippet(reason || text)}")`;
      return { failure };
    }
    const msg = parsed === undefined ? undefined : messageWithId(parsed, id);
    if (msg) return { msg };
    return {
      failure: {
        ok: false,
        diagnosis: 'not-mcp',
        status,
        message: `HTTP ${status} with ${type || 'no content type'}${text ? ` ("${snippet(text)}")` : ''}: not an MCP answer`,
        tryOthers: true,
      },
    };
  } catch (err) {
    res.destroy();
    return {
      failure: { ok: false, diagnosis: 'timeout', status, message: `answered HTTP ${status}, but not initialize: ${(err as Error).message}`, tryOthers: false },
    };
  }
}

/** A JSON-RPC error without an id (servers answer a refused request with id null). */
function jsonRpcError(parsed: unknown): Record<string, unknown> | undefined {
  return parsed && typeof parsed === 'object' && !Array.isArray(parsed) && 'error' in parsed && (parsed as { jsonrpc?: unknown }).jsonrpc === '2.0'
    ? (parsed as Record<string, unknown>)
    : undefined;
}
