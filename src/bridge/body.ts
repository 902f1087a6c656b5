import type { IncomingMessage } from 'node:http';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Transform } from 'node:stream';
import { ErrorCode } from './jsonrpc.js';

/**
 * Reads a JSON request body with a hard size limit, on plain node:http (the bridge's HTTP front
 * does not load express: ~13 MB of RSS per daemon for three routes). The limit applies to the
 * decoded bytes, so a gzip bomb is cut off at the limit, not after inflating it.
 */
export type BodyResult = { ok: true; body: unknown } | { ok: false; status: number; code: number; message: string };

/** application/json and application/*+json, like body-parser's default for express.json(). */
const JSON_MEDIA_TYPE = /^application\/(?:[\w.-]+\+)?json$/i;

const fail = (status: number, code: number, message: string): BodyResult => ({ ok: false, status, code, message });

/**
 * Refuses a body without reading it into memory, but drains it: closing the socket while the client
 * still writes would give it EPIPE instead of our error reply.
 */
function refuse(req: IncomingMessage, result: BodyResult): Promise<BodyResult> {
  req.resume();
  return Promise.resolve(result);
}

/** True when the request says its body is JSON; other bodies are left unread for their handler. */
export function isJsonRequest(req: IncomingMessage): boolean {
  const type = req.headers['content-type'];
  return !!type && JSON_MEDIA_TYPE.test(type.split(';')[0].trim());
}

export function readJsonBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(req.headers['content-type'] ?? '')?.[1]?.toLowerCase();
  if (charset && charset !== 'utf-8' && charset !== 'utf8') {
    return refuse(req, fail(415, ErrorCode.InvalidRequest, `Unsupported encoding: unsupported charset "${charset.toUpperCase()}"`));
  }
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  let decoder: Transform | undefined;
  if (encoding === 'gzip' || encoding === 'x-gzip') decoder = createGunzip();
  else if (encoding === 'deflate') decoder = createInflate();
  else if (encoding === 'br') decoder = createBrotliDecompress();
  else if (encoding !== 'identity') {
    return refuse(req, fail(415, ErrorCode.InvalidRequest, `Unsupported encoding: unsupported content encoding "${encoding}"`));
  }
  const tooLarge = fail(413, ErrorCode.InvalidRequest, `Payload Too Large: the limit is ${limit} bytes`);
  const declared = Number(req.headers['content-length']);
  if (!decoder && Number.isFinite(declared) && declared > limit) return refuse(req, tooLarge);

  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (r: BodyResult) => {
      if (settled) return;
      settled = true;
      if (!r.ok) {
        req.unpipe();
        decoder?.destroy();
        req.resume(); // drain what is left so the socket can carry the error reply
      }
      resolve(r);
    };
    const source: NodeJS.ReadableStream = decoder ? req.pipe(decoder) : req;
    source.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) return finish(tooLarge);
      chunks.push(chunk);
    });
    source.on('error', () => finish(fail(400, ErrorCode.ParseError, `Parse error: the body could not be decoded (${encoding})`)));
    req.on('aborted', () => finish(fail(400, ErrorCode.ParseError, 'Parse error: the request was aborted')));
    source.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      // body-parser's strict mode: an empty body is {}, anything else must be an object or array.
      const first = text.trimStart()[0];
      if (first === undefined) return finish({ ok: true, body: {} });
      if (first !== '{' && first !== '[') return finish(fail(400, ErrorCode.ParseError, 'Parse error: the body is not valid JSON'));
      try {
        finish({ ok: true, body: JSON.parse(text) });
      } catch {
        finish(fail(400, ErrorCode.ParseError, 'Parse error: the body is not valid JSON'));
      }
    });
  });
}
