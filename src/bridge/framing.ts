import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { isJsonRpcMessage } from './jsonrpc.js';

/** Largest line the child may write (a single JSON-RPC message); beyond it the line is discarded. */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;

export type Frame = { message: JSONRPCMessage } | { junk: string };

/**
 * Newline-delimited JSON-RPC framing for a child's stdout. It only checks the envelope (an object
 * with jsonrpc "2.0" and a method or an id): payloads pass through untouched, so the hot path pays
 * one JSON.parse per message, not a schema validation.
 */
export class LineDecoder {
  private chunks: Buffer[] = [];
  private size = 0;
  private overflow = false;

  /** Feeds a chunk; returns the complete frames it finished. */
  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.overflow) {
        this.overflow = false;
        frames.push({ junk: `(a line longer than ${MAX_LINE_BYTES} bytes)` });
        continue;
      }
      const line = this.chunks.length ? Buffer.concat([...this.chunks, piece]) : piece;
      this.chunks = [];
      this.size = 0;
      const frame = decodeLine(line.toString('utf8'));
      if (frame) frames.push(frame);
    }
    if (start < chunk.length && !this.overflow) {
      const rest = chunk.subarray(start);
      this.size += rest.length;
      if (this.size > MAX_LINE_BYTES) {
        this.chunks = [];
        this.size = 0;
        this.overflow = true;
      } else {
        // Copy: the stream may reuse the chunk's memory.
        this.chunks.push(Buffer.from(rest));
      }
    }
    return frames;
  }
}

export function decodeLine(raw: string): Frame | undefined {
  const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
  if (line.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { junk: line };
  }
  if (isJsonRpcMessage(value)) return { message: value };
  return { junk: line };
}

export function encodeMessage(message: JSONRPCMessage): string {
  return JSON.stringify(message) + '\n';
}
