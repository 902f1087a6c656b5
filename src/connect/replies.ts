import type { IncomingMessage } from 'node:http';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { isJsonRpcMessage } from '../bridge/jsonrpc.js';
import { readText } from './http.js';
import { SseParser } from './sse.js';

/**
 * Reads the messages of a Streamable HTTP response, in the order they come, and hands each to
 * `onMessage` as it arrives: a plain JSON body (one message or a batch), or an SSE stream (progress,
 * server requests, then the result). Resolves when the body ends; rejects if the connection is cut.
 */
export async function readMessages(res: IncomingMessage, onMessage: (m: JSONRPCMessage) => void, onJunk: (text: string) => void): Promise<void> {
  const type = String(res.headers['content-type'] ?? '');
  const deliver = (text: string) => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return onJunk(text);
    }
    for (const m of Array.isArray(value) ? value : [value]) {
      if (isJsonRpcMessage(m)) onMessage(m);
      else onJunk(JSON.stringify(m));
    }
  };
  if (type.includes('text/event-stream')) {
    const parser = new SseParser();
    for await (const chunk of res as AsyncIterable<Buffer>) {
      for (const event of parser.push(chunk)) {
        if (event.event === '' || event.event === 'message') deliver(event.data);
      }
    }
    return;
  }
  const text = await readText(res, 64 << 20);
  if (type.includes('application/json') && text.trim() !== '') deliver(text);
}
