import type { InitializeResult, JSONRPCMessage, JSONRPCNotification, JSONRPCRequest, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../util/log.js';
import { InputRequired } from './input-required.js';
import { ErrorCode } from './jsonrpc.js';
import { isLogLevel } from './log-levels.js';
import type { Peer, PeerInit } from './peer.js';
import { STATELESS_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from './protocol.js';
import type { Inflight } from './request-table.js';
import type { Router } from './router.js';
import { advertisedCapabilities, clientInfoOf } from './capabilities.js';

/** The `_meta` keys of the 2026-07-28 envelope. */
export const META = {
  protocolVersion: 'io.modelcontextprotocol/protocolVersion',
  clientCapabilities: 'io.modelcontextprotocol/clientCapabilities',
  clientInfo: 'io.modelcontextprotocol/clientInfo',
  logLevel: 'io.modelcontextprotocol/logLevel',
  serverInfo: 'io.modelcontextprotocol/serverInfo',
  subscriptionId: 'io.modelcontextprotocol/subscriptionId',
} as const;
const ENVELOPE_PREFIX = 'io.modelcontextprotocol/';

/** Every version a client may ask for, both eras: what discovery and -32022 list. */
export const ALL_VERSIONS: readonly string[] = [STATELESS_VERSION, ...SUPPORTED_PROTOCOL_VERSIONS];

/** Methods a 2026 request may carry; anything else is answered 404 -32601 without reaching the child. */
const STATELESS_METHODS = new Set([
  'server/discover',
  'subscriptions/listen',
  'tools/list',
  'tools/call',
  'prompts/list',
  'prompts/get',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'completion/complete',
]);
/** Methods of 2025 that 2026-07-28 removed: named in the error, so a client knows why. */
const REMOVED_METHODS = new Set(['initialize', 'ping', 'logging/setLevel', 'resources/subscribe', 'resources/unsubscribe']);
/** Results that carry caching hints, and the capability whose list_changed keeps them fresh. */
const CACHEABLE: Record<string, 'tools' | 'prompts' | 'resources' | undefined> = {
  'tools/list': 'tools',
  'prompts/list': 'prompts',
  'resources/list': 'resources',
  'resources/templates/list': 'resources',
  'resources/read': undefined,
};
/**
 * How long a client may keep a list. The bridge sends list_changed to every listen stream the
 * moment the child reports a change (and after every child restart), so a list of a kind whose
 * changes are reported stays valid until then; one minute bounds the staleness for a client that
 * does not listen. A kind the child never reports changes for, and resource contents, are not cached.
 */
const LIST_TTL_MS = 60_000;

/** The 2026-07-28 error codes. */
export const StatelessError = {
  HeaderMismatch: -32020,
  MissingClientCapability: -32021,
  UnsupportedVersion: -32022,
} as const;

/** The HTTP status a 2026 JSON-RPC error travels with (the status follows from the code). */
export function httpStatusOf(code: number): number {
  switch (code) {
    case ErrorCode.MethodNotFound:
      return 404;
    case ErrorCode.ParseError:
    case ErrorCode.InvalidRequest:
    case ErrorCode.InvalidParams:
    case StatelessError.HeaderMismatch:
    case StatelessError.MissingClientCapability:
    case StatelessError.UnsupportedVersion:
      return 400;
    case ErrorCode.ServerUnavailable:
      return 503;
    default:
      return 200;
  }
}

/** The request headers the 2026 wire rules look at. */
export interface StatelessHeaders {
  protocolVersion?: string;
  method?: string;
  name?: string;
}

export type StatelessCheck = { ok: true; init: Omit<PeerInit, 'id' | 'kind'> } | { ok: false; status: number; code: number; message: string; data?: unknown };

const objectOf = (v: unknown): Record<string, unknown> | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/** Whether a POST without a session id is a 2026 stateless request rather than a 2025 initialize. */
export function isStatelessPost(message: JSONRPCMessage, headerVersion: string | undefined): boolean {
  const meta = objectOf(objectOf((message as { params?: unknown }).params)?._meta);
  if (meta && META.protocolVersion in meta) return true;
  if (headerVersion !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(headerVersion)) return true;
  return (message as { method?: string }).method !== 'initialize';
}

/**
 * The 2026-07-28 validation of one request, in the order the spec gives: the version header, the
 * `_meta` envelope, header against envelope, then the version itself, then the other headers.
 */
export function checkStateless(request: JSONRPCRequest, h: StatelessHeaders): StatelessCheck {
  const fail = (status: number, code: number, message: string, data?: unknown): StatelessCheck => ({ ok: false, status, code, message, data });
  if (h.protocolVersion === undefined) {
    return fail(
      400,
      StatelessError.HeaderMismatch,
      'Bad Request: the MCP-Protocol-Version header is required (a 2025-11-25 session starts with initialize and then sends Mcp-Session-Id)',
    );
  }
  const meta = objectOf(objectOf(request.params)?._meta);
  if (!meta)
    return fail(
      400,
      ErrorCode.InvalidParams,
      `Invalid params: a stateless request needs params._meta with "${META.protocolVersion}" and "${META.clientCapabilities}"`,
    );
  const version = meta[META.protocolVersion];
  if (typeof version !== 'string') return fail(400, ErrorCode.InvalidParams, `Invalid params: _meta["${META.protocolVersion}"] is required`);
  const caps = objectOf(meta[META.clientCapabilities]);
  if (!caps) return fail(400, ErrorCode.InvalidParams, `Invalid params: _meta["${META.clientCapabilities}"] is required (an object; {} declares none)`);
  if (h.protocolVersion !== version) {
    return fail(
      400,
      StatelessError.HeaderMismatch,
      `Bad Request: MCP-Protocol-Version header "${h.protocolVersion}" differs from _meta protocol version "${version}"`,
    );
  }
  if (version !== STATELESS_VERSION) {
    return fail(400, StatelessError.UnsupportedVersion, `Unsupported protocol version: ${version}`, { supported: [...ALL_VERSIONS], requested: version });
  }
  if (h.method !== undefined && h.method !== request.method) {
    return fail(400, StatelessError.HeaderMismatch, `Bad Request: Mcp-Method header "${h.method}" differs from the body's method "${request.method}"`);
  }
  const name = nameOf(request);
  if (h.name !== undefined && name !== undefined && decodeHeaderValue(h.name) !== name) {
    return fail(
      400,
      StatelessError.HeaderMismatch,
      `Bad Request: Mcp-Name header differs from the body's ${request.method === 'resources/read' ? 'uri' : 'name'}`,
    );
  }
  const level = meta[META.logLevel];
  return {
    ok: true,
    init: {
      protocolVersion: version,
      capabilities: caps,
      clientInfo: clientInfoOf(meta[META.clientInfo]),
      logLevel: isLogLevel(level) ? level : undefined,
    },
  };
}

/** What Mcp-Name stands for: the tool or prompt name, or the resource URI. */
function nameOf(request: JSONRPCRequest): string | undefined {
  const p = objectOf(request.params);
  const v = request.method === 'resources/read' ? p?.uri : request.method === 'tools/call' || request.method === 'prompts/get' ? p?.name : undefined;
  return typeof v === 'string' ? v : undefined;
}

/** Header values that are not plain ASCII arrive as `=?base64?…?=`. */
function decodeHeaderValue(v: string): string {
  const m = /^=\?base64\?(.*)\?=$/i.exec(v);
  return m ? Buffer.from(m[1], 'base64').toString('utf8') : v;
}

/** A copy of params without the envelope's keys: the child is a 2025 server and must not see them. */
function stripEnvelope(params: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const meta = objectOf(params?._meta);
  if (!params || !meta) return params;
  const kept = Object.fromEntries(Object.entries(meta).filter(([k]) => !k.startsWith(ENVELOPE_PREFIX)));
  const { _meta: _drop, ...rest } = params;
  return Object.keys(kept).length ? { ...rest, _meta: kept } : rest;
}

interface Listen {
  id: RequestId;
  filter: ListenFilter;
}
interface ListenFilter {
  toolsListChanged?: boolean;
  promptsListChanged?: boolean;
  resourcesListChanged?: boolean;
  resourceSubscriptions?: string[];
}

/**
 * MCP 2026-07-28 in front of a 2025-style child: every stateless request is its own peer, answered
 * from what the bridge knows (discovery), forwarded without the envelope, or continued
 * (`input_required`); `subscriptions/listen` streams get the change notifications they asked for.
 */
export class StatelessEra {
  private readonly listens = new Map<Peer, Listen>();
  readonly inputs: InputRequired;

  constructor(
    private readonly router: Router,
    opts: { stateKey?: Buffer; queueTimeoutMs: number },
    private readonly log: Logger,
  ) {
    this.inputs = new InputRequired(router, { key: opts.stateKey }, log);
    this.queueTimeoutMs = opts.queueTimeoutMs;
  }

  private readonly queueTimeoutMs: number;

  onRequest(peer: Peer, request: JSONRPCRequest): void {
    const { router } = this;
    if (!STATELESS_METHODS.has(request.method)) {
      const why = REMOVED_METHODS.has(request.method) ? 'removed in protocol 2026-07-28' : 'not a method of protocol 2026-07-28';
      router.replyError(peer, request.id, ErrorCode.MethodNotFound, `Method not found: ${request.method} (${why})`);
      return;
    }
    if (request.method === 'server/discover') {
      void this.discover(peer, request);
      return;
    }
    if (request.method === 'subscriptions/listen') {
      this.listen(peer, request);
      return;
    }
    const params = objectOf(request.params);
    if (params && 'requestState' in params) {
      this.inputs.retry(peer, request);
      return;
    }
    if (params && 'inputResponses' in params) {
      // Answers given up front, before any input_required: kept for the child's requests by key.
      const { inputResponses, ...rest } = params;
      if (!objectOf(inputResponses)) {
        router.replyError(peer, request.id, ErrorCode.InvalidParams, 'Invalid params: inputResponses must be an object keyed by the inputRequests keys');
        return;
      }
      router.forward(peer, { ...request, params: stripEnvelope(rest) } as JSONRPCRequest, { preAnswers: inputResponses as Record<string, unknown> });
      return;
    }
    router.forward(peer, { ...request, params: stripEnvelope(params) } as JSONRPCRequest);
  }

  /** `server/discover`: what the child said in its one initialize, for both eras. */
  private async discover(peer: Peer, request: JSONRPCRequest): Promise<void> {
    const { router } = this;
    try {
      // Answered from what the child (or its discovery snapshot) said, without waking it.
      if (!router.upstream.knownInit) await router.upstream.whenReady(this.queueTimeoutMs);
    } catch (err) {
      router.replyError(peer, request.id, ErrorCode.ServerUnavailable, `mcpshare: ${(err as Error).message}`);
      return;
    }
    // One line per client start: which clients use the stateless era is worth seeing in the log.
    const who = peer.clientInfo ? `${peer.clientInfo.name}${peer.clientInfo.version ? ' ' + peer.clientInfo.version : ''}` : 'a client';
    this.log.info(`server/discover answered for ${who} (protocol ${peer.protocolVersion})`);
    router.reply(peer, request.id, discoverResult(router.upstream.initResult as InitializeResult));
  }

  private listen(peer: Peer, request: JSONRPCRequest): void {
    const { router } = this;
    const asked = objectOf(objectOf(request.params)?.notifications) ?? {};
    const caps = router.upstream.initResult?.capabilities ?? {};
    const filter: ListenFilter = {};
    if (asked.toolsListChanged === true && caps.tools) filter.toolsListChanged = true;
    if (asked.promptsListChanged === true && caps.prompts) filter.promptsListChanged = true;
    if (asked.resourcesListChanged === true && caps.resources) filter.resourcesListChanged = true;
    const uris = Array.isArray(asked.resourceSubscriptions) ? asked.resourceSubscriptions.filter((u): u is string => typeof u === 'string') : [];
    if (uris.length && caps.resources?.subscribe) {
      filter.resourceSubscriptions = [...new Set(uris)];
      for (const uri of filter.resourceSubscriptions) {
        if (router.subscriptions.add(peer, uri) === 'first') router.subscriptions.subscribeUpstream(uri);
      }
    }
    this.listens.set(peer, { id: request.id, filter });
    this.log.info(`${peer.label} listens for ${JSON.stringify(filter)}`);
    router.deliver(
      peer,
      { jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { notifications: filter, _meta: { [META.subscriptionId]: request.id } } },
      request.id,
    );
  }

  /** A change notification for a listen stream, if its filter asked for it, tagged with its id. */
  deliverChange(peer: Peer, note: JSONRPCNotification): void {
    const listen = this.listens.get(peer);
    if (!listen) return;
    const f = listen.filter;
    const params = objectOf(note.params) ?? {};
    const wanted =
      note.method === 'notifications/tools/list_changed'
        ? f.toolsListChanged
        : note.method === 'notifications/prompts/list_changed'
          ? f.promptsListChanged
          : note.method === 'notifications/resources/list_changed'
            ? f.resourcesListChanged
            : note.method === 'notifications/resources/updated'
              ? f.resourceSubscriptions?.includes(String(params.uri))
              : false;
    if (!wanted) return;
    const meta = { ...(objectOf(params._meta) ?? {}), [META.subscriptionId]: listen.id };
    this.router.deliver(peer, { ...note, params: { ...params, _meta: meta } }, listen.id);
  }

  /** A log message for a request whose `_meta` asked for a level: on that request's stream. */
  deliverLog(peer: Peer, note: JSONRPCNotification): void {
    for (const id of peer.inflight) {
      const entry = this.router.table.get(id);
      if (entry && !entry.parked) {
        this.router.deliver(peer, note, entry.clientId);
        return;
      }
    }
  }

  /**
   * Adds `resultType` (and, for lists and reads, honest caching hints) to a 2026 result. A call that
   * failed after the bridge refused its child a capability the request never declared is answered
   * -32021, as a 2026 server would: stock 2025 servers turn that refusal into an `isError` result.
   */
  decorate(call: Pick<Inflight, 'method' | 'refusedCapability'>, reply: JSONRPCMessage): JSONRPCMessage {
    const { method } = call;
    if (!('result' in reply)) return reply;
    if (call.refusedCapability && (reply.result as { isError?: unknown }).isError === true) {
      return {
        jsonrpc: '2.0',
        id: reply.id,
        error: {
          code: StatelessError.MissingClientCapability,
          message: `Missing required client capability: ${call.refusedCapability} (the server needed it for this ${method} and the request did not declare it)`,
          data: { requiredCapabilities: { [call.refusedCapability]: {} } },
        },
      } as JSONRPCMessage;
    }
    const result = { ...(reply.result as Record<string, unknown>) };
    result.resultType ??= 'complete';
    if (method in CACHEABLE) {
      const kind = CACHEABLE[method];
      const reported = kind ? !!this.router.upstream.initResult?.capabilities[kind]?.listChanged : false;
      result.ttlMs ??= reported ? LIST_TTL_MS : 0;
      // One child serves every client of this bridge the same lists; contents may be the user's own.
      result.cacheScope ??= kind ? 'public' : 'private';
    }
    return { ...reply, result } as JSONRPCMessage;
  }

  askDuringCall(call: Inflight, request: JSONRPCRequest): void {
    this.inputs.ask(call, request);
  }

  /** A call left the table (answered, cancelled, child gone). Returns true when it was parked. */
  callGone(entry: Inflight): boolean {
    return this.inputs.callGone(entry);
  }

  onChildCancelled(childId: RequestId): void {
    this.inputs.childCancelled(childId);
  }

  peerGone(peer: Peer): void {
    this.listens.delete(peer);
  }

  listenCount(): number {
    return this.listens.size;
  }
}

/** The `server/discover` result, from the child's InitializeResult. */
export function discoverResult(child: InitializeResult): Record<string, unknown> {
  const capabilities = advertisedCapabilities(child.capabilities);
  return {
    supportedVersions: [...ALL_VERSIONS],
    capabilities,
    ...(child.instructions ? { instructions: child.instructions } : {}),
    resultType: 'complete',
    // Discovery changes only when the child is replaced, and every listen stream hears of that.
    ttlMs: LIST_TTL_MS,
    cacheScope: 'public',
    _meta: { [META.serverInfo]: child.serverInfo },
  };
}
