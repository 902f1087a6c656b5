import { VERSION } from '../version.js';
import type { Diagnosis } from './types.js';
import type { Exchange } from './wire.js';

/**
 * What the two transport handshakes (streamable.ts, sse.ts) have in common: the initialize request
 * they send, how they read its answer, and the open session they hand back to probe.ts.
 */

/** The newest protocol revision this probe speaks; a server answers with the one it supports. */
export const PROBE_PROTOCOL_VERSION = '2025-11-25';
export const INIT_ID = 1;
export const PING_ID = 2;

export interface ProbeContext {
  /** Loopback addresses to connect to, in order (see wire.ts exchangeAny). */
  addresses: string[];
  timeoutMs: number;
}

/** An initialized MCP session the probe holds open (for the concurrency check) and must close. */
export interface OpenSession {
  /** Sends notifications/initialized and a ping; resolves to an error message, or undefined when it worked. */
  ping(): Promise<string | undefined>;
  /** Ends the session (DELETE, or closing the SSE stream) so no probe leaves a session behind. */
  close(): Promise<void>;
}

export interface Opened {
  ok: true;
  server: { name: string; version: string };
  protocolVersion: string;
  capabilities: Record<string, unknown>;
  latencyMs: number;
  session: OpenSession;
}

export interface Failed {
  ok: false;
  diagnosis: Diagnosis;
  status?: number;
  message: string;
  /** The endpoint exists in some form but not as asked: worth trying the other path/transport. */
  tryOthers: boolean;
}

export type Handshake = Opened | Failed;

export function initializeBody(): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id: INIT_ID,
    method: 'initialize',
    params: { protocolVersion: PROBE_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'mcpshare-probe', version: VERSION } },
  });
}

export const INITIALIZED_BODY = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' });
export const PING_BODY = JSON.stringify({ jsonrpc: '2.0', id: PING_ID, method: 'ping' });

/** The JSON-RPC message with this id among one parsed body (a message or a batch), if any. */
export function messageWithId(parsed: unknown, id: number): Record<string, unknown> | undefined {
  const list = Array.isArray(parsed) ? parsed : [parsed];
  return list.find((m): m is Record<string, unknown> => !!m && typeof m === 'object' && (m as { id?: unknown }).id === id);
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Turns the answer to initialize into the session's facts, or says why it is not MCP. */
export function readInitializeAnswer(
  msg: Record<string, unknown>,
): { ok: true; server: { name: string; version: string }; protocolVersion: string; capabilities: Record<string, unknown> } | Failed {
  const error = msg.error as { code?: unknown; message?: unknown } | undefined;
  if (error && typeof error === 'object') {
    const text = typeof error.message === 'string' ? error.message : (JSON.stringify(error.message) ?? '');
    // The SDK's single-transport servers answer a second initialize with "Server already initialized".
    if (/already initiali[sz]ed/i.test(text)) return singleClient(text);
    return { ok: false, diagnosis: 'http-error', message: `answered initialize with error ${String(error.code)}: ${text}`, tryOthers: false };
  }
  const result = msg.result as { serverInfo?: { name?: unknown; version?: unknown }; protocolVersion?: unknown; capabilities?: unknown } | undefined;
  if (!result || typeof result !== 'object' || !result.serverInfo || typeof result.serverInfo.name !== 'string') {
    return { ok: false, diagnosis: 'not-mcp', message: 'answered initialize without serverInfo: not an MCP server', tryOthers: false };
  }
  return {
    ok: true,
    server: { name: result.serverInfo.name, version: typeof result.serverInfo.version === 'string' ? result.serverInfo.version : '' },
    protocolVersion: typeof result.protocolVersion === 'string' ? result.protocolVersion : '',
    capabilities: result.capabilities && typeof result.capabilities === 'object' ? (result.capabilities as Record<string, unknown>) : {},
  };
}

export function singleClient(reason: string, status?: number): Failed {
  return { ok: false, diagnosis: 'single-client', status, message: `refused a new session ("${reason}"): it serves one client at a time`, tryOthers: false };
}

/** A failure for an HTTP status at the endpoint, before its body is read. */
export function statusFailure(status: number, what: string): Failed {
  if (status === 404) return { ok: false, diagnosis: 'wrong-path', status, message: `404 Not Found: no ${what} endpoint at this path`, tryOthers: true };
  if (status === 401) return { ok: false, diagnosis: 'http-error', status, message: '401 Unauthorized: the daemon requires a bearer token', tryOthers: false };
  if (status === 403)
    return { ok: false, diagnosis: 'http-error', status, message: '403 Forbidden: the daemon refused this Host/Origin or client', tryOthers: false };
  if (status >= 500) return { ok: false, diagnosis: 'http-error', status, message: `HTTP ${status}: the daemon failed while answering`, tryOthers: false };
  return {
    ok: false,
    diagnosis: 'http-error',
    status,
    message: `HTTP ${status} at the ${what} endpoint`,
    tryOthers: status === 405 || status === 400 || status === 406 || status === 415,
  };
}

/** A failure before any HTTP answer: nothing listens, it never answered, or it is not HTTP. */
export function transportFailure(ex: Exclude<Exchange, { kind: 'response' }>): Failed {
  if (ex.kind === 'refused') return { ok: false, diagnosis: 'refused', message: ex.message, tryOthers: false };
  if (ex.kind === 'silent') return { ok: false, diagnosis: 'silent', message: ex.message, tryOthers: false };
  return { ok: false, diagnosis: 'not-mcp', message: ex.message, tryOthers: false };
}

/** A body quoted in a message: whitespace folded, at most 80 characters. */
export function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 80 ? `${flat.slice(0, 77)}...` : flat;
}
