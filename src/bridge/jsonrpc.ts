import type { ServerResponse } from 'node:http';
import type {
  JSONRPCMessage,
  JSONRPCNotification,
  JSONRPCRequest,
  JSONRPCResultResponse,
  JSONRPCErrorResponse,
  RequestId,
} from '@modelcontextprotocol/sdk/types.js';

/** Narrowing helpers that only look at shape (the SDK's zod guards re-validate the whole payload on a hot path). */
export type JSONRPCResponseMessage = JSONRPCResultResponse | JSONRPCErrorResponse;

export function isRequest(m: JSONRPCMessage): m is JSONRPCRequest {
  return 'method' in m && 'id' in m && m.id !== undefined && m.id !== null;
}
export function isNotification(m: JSONRPCMessage): m is JSONRPCNotification {
  return 'method' in m && !('id' in m && m.id !== undefined && m.id !== null);
}
export function isResponse(m: JSONRPCMessage): m is JSONRPCResponseMessage {
  return !('method' in m) && ('result' in m || 'error' in m);
}

/**
 * Envelope check for a JSON-RPC 2.0 message: an object with jsonrpc "2.0" and either a method or a
 * result/error with an id. Payloads are not validated: the bridge passes them through, and one
 * JSON.parse per message is the whole cost on the hot path.
 */
export function isJsonRpcMessage(v: unknown): v is JSONRPCMessage {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const m = v as Record<string, unknown>;
  if (m.jsonrpc !== '2.0') return false;
  // 1e400 parses as Infinity, which would go back out as null.
  const validId = typeof m.id === 'string' || (typeof m.id === 'number' && Number.isFinite(m.id));
  if (typeof m.method === 'string') {
    // JSON-RPC 2.0 §4.2: params, when present, is structured (MCP: an object).
    if (m.params !== undefined && (typeof m.params !== 'object' || m.params === null)) return false;
    return m.id === undefined || validId;
  }
  return (validId || m.id === null) && ('result' in m || 'error' in m);
}

export function errorResponse(id: RequestId, code: number, message: string, data?: unknown): JSONRPCErrorResponse {
  return { jsonrpc: '2.0', id, error: { code, message, ...(data !== undefined ? { data } : {}) } };
}

export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /**
   * The MCP server behind the bridge is down, restarting or stopped: the request was fine, retry it.
   * Everything the client must change instead (a refused Host or token, a wrong Accept, version or
   * session) is InvalidRequest, InvalidParams or SessionNotFound, never this.
   */
  ServerUnavailable: -32000,
  SessionNotFound: -32001,
} as const;

/** Writes a JSON body as a complete HTTP response (nothing, if a response already started). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

/** Writes a JSON-RPC error as an HTTP response (id null: it answers the request, not a message). */
export function httpRpcError(
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  options: { id?: unknown; headers?: Record<string, string> } = {},
): void {
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: options.id ?? null }, options.headers);
}
