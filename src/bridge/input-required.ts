import type { JSONRPCRequest, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../util/log.js';
import { ErrorCode } from './jsonrpc.js';
import type { Peer } from './peer.js';
import type { Inflight } from './request-table.js';
import { RequestStateSigner } from './request-state.js';
import type { Router } from './router.js';
import { CAPABILITY_OF, capable } from './server-requests.js';

/** After the child's first request during a call, how long to wait for more before answering `input_required`. */
const SETTLE_MS = 25;
/** How long a parked call waits for the client's retry before it is cancelled at the child. */
export const PARK_TIMEOUT_MS = 5 * 60_000;
/** The calls during which the child may ask the client for input; list methods never answer `input_required`. */
const INPUT_METHODS = new Set(['tools/call', 'prompts/get', 'resources/read']);
/** The `_meta` key by which a child may name an input request's key. */
const INPUT_KEY = 'mcpshare/inputKey';

interface Asked {
  childId: RequestId;
  method: string;
  params: Record<string, unknown>;
}

/** The bridge's side of one multi-round-trip call. */
interface Round {
  call: Inflight;
  /** Bumped each time `input_required` is answered: a requestState is good for one retry. */
  round: number;
  asked: Map<string, Asked>;
  settle?: NodeJS.Timeout;
  expiry?: NodeJS.Timeout;
  /** The child answered while the client was away: kept for its retry. */
  final?: { result?: unknown; error?: unknown };
}

/**
 * `input_required` for 2026-07-28 calls in front of a 2025 child. The child asks the client with
 * real requests (elicitation, sampling, roots) and waits; a stateless client cannot be asked on the
 * wire. So the requests are parked, the call's HTTP response answers `input_required` with them and
 * a signed `requestState`, and the client's retry (with `inputResponses`) answers the parked
 * requests and takes the call over. The call keeps running at the child the whole time.
 */
export class InputRequired {
  private readonly rounds = new Map<number, Round>();
  private readonly signer: RequestStateSigner;
  private keyCounter = 0;

  constructor(
    private readonly router: Router,
    opts: { key?: Buffer },
    private readonly log: Logger,
  ) {
    this.signer = new RequestStateSigner(opts.key);
  }

  /** The child asked "the client" something while this 2026 call was the only one in flight. */
  ask(call: Inflight, request: JSONRPCRequest): void {
    const { router } = this;
    const cap = CAPABILITY_OF[request.method];
    if (!cap || !INPUT_METHODS.has(call.method)) {
      router.serverRequests.countFallback();
      router.serverRequests.fallback(request.id, request.method, cap ? `${call.method} cannot ask for input in protocol 2026-07-28` : 'not a client method');
      return;
    }
    if (!capable(call.peer, request.method)) {
      // The request never declared it: refused to the child at once, as a 2026 server would be.
      router.serverRequests.countFallback();
      call.refusedCapability = cap;
      router.upstream.send({
        jsonrpc: '2.0',
        id: request.id,
        error: { code: -32021, message: `Missing required client capability: ${cap}`, data: { requiredCapabilities: { [cap]: {} } } },
      });
      return;
    }
    let round = this.rounds.get(call.upstreamId);
    if (!round) this.rounds.set(call.upstreamId, (round = { call, round: 0, asked: new Map() }));
    const params = { ...((request.params ?? {}) as Record<string, unknown>) };
    const meta = params._meta as Record<string, unknown> | undefined;
    let key = typeof meta?.[INPUT_KEY] === 'string' ? (meta[INPUT_KEY] as string) : undefined;
    if (meta && INPUT_KEY in meta) {
      const { [INPUT_KEY]: _drop, ...rest } = meta;
      if (Object.keys(rest).length) params._meta = rest;
      else delete params._meta;
    }
    if (!key || round.asked.has(key)) key = `${cap}-${++this.keyCounter}`;
    const given = call.preAnswers?.[key];
    if (given !== undefined && call.preAnswers) {
      // Answered before it was asked (inputResponses on the first call): no round trip needed.
      delete call.preAnswers[key];
      if (isAnswer(given)) {
        router.upstream.send({ jsonrpc: '2.0', id: request.id, result: given });
        return;
      }
    }
    round.asked.set(key, { childId: request.id, method: request.method, params });
    // While the client's response is still open, gather what else the child asks, then answer.
    if (!call.parked && !round.settle) round.settle = setTimeout(() => this.answer(round), SETTLE_MS);
  }

  /** Ends the call's current response with `input_required` and parks the call for the retry. */
  private answer(round: Round): void {
    const { router } = this;
    const { call } = round;
    if (round.settle) clearTimeout(round.settle);
    round.settle = undefined;
    if (call.parked || call.peer.closed) return;
    round.round++;
    const requestState = this.signer.sign({ call: call.upstreamId, round: round.round, method: call.method, expires: Date.now() + PARK_TIMEOUT_MS });
    const inputRequests = Object.fromEntries([...round.asked].map(([key, a]) => [key, { method: a.method, params: a.params }]));
    // Parked first: the reply ends the response, and with it the peer, which must not cancel the call.
    const { peer, clientId } = call;
    router.table.park(call);
    router.reply(peer, clientId, { resultType: 'input_required', inputRequests, requestState });
    round.expiry = setTimeout(() => this.expire(round), PARK_TIMEOUT_MS);
    round.expiry.unref();
    this.log.debug(`call ${call.upstreamId} (${call.method}) waits for input: ${[...round.asked.keys()].join(', ')} (round ${round.round})`);
  }

  /** The client retried with `requestState` and `inputResponses`. */
  retry(peer: Peer, request: JSONRPCRequest): void {
    const { router } = this;
    const params = (request.params ?? {}) as Record<string, unknown>;
    const claims = this.signer.verify(params.requestState);
    const round = claims ? this.rounds.get(claims.call) : undefined;
    if (!claims || !round || round.round !== claims.round || claims.method !== request.method || !(round.call.parked || round.final)) {
      router.replyError(
        peer,
        request.id,
        ErrorCode.InvalidParams,
        claims
          ? 'Invalid params: requestState is no longer valid (the call finished, expired or was already continued); call again without it'
          : 'Invalid params: requestState is not one this server issued, or it expired; call again without it',
      );
      return;
    }
    const responses = params.inputResponses;
    if (responses !== undefined && !isAnswer(responses)) {
      router.replyError(peer, request.id, ErrorCode.InvalidParams, 'Invalid params: inputResponses must be an object keyed by the inputRequests keys');
      return;
    }
    const bad = Object.keys(responses ?? {}).find((k) => round.asked.has(k) && !isAnswer((responses as Record<string, unknown>)[k]));
    if (bad !== undefined) {
      router.replyError(
        peer,
        request.id,
        ErrorCode.InvalidParams,
        `Invalid params: inputResponses["${bad}"] must be the result object for its ${round.asked.get(bad)?.method} request`,
      );
      return;
    }
    if (round.expiry) clearTimeout(round.expiry);
    round.expiry = undefined;
    const { call } = round;
    if (round.final) {
      this.rounds.delete(call.upstreamId);
      const reply = { jsonrpc: '2.0' as const, id: request.id, ...round.final };
      router.deliver(peer, this.router.stateless.decorate(call, reply as never), request.id);
      return;
    }
    router.table.moveTo(call, peer, request.id);
    const token = ((params._meta ?? {}) as Record<string, unknown>).progressToken;
    call.clientProgressToken = token === undefined || token === null ? undefined : (token as Inflight['clientProgressToken']);
    call.progressDeliveredAt = undefined;
    for (const [key, value] of Object.entries((responses ?? {}) as Record<string, unknown>)) {
      const asked = round.asked.get(key);
      if (!asked) continue; // unknown keys are ignored
      round.asked.delete(key);
      router.upstream.send({ jsonrpc: '2.0', id: asked.childId, result: value as Record<string, unknown> });
    }
    // What was not answered is asked again, with a fresh requestState.
    if (round.asked.size > 0) this.answer(round);
  }

  /** A call left the table. Returns true when its client was away (parked), so nobody can be told now. */
  callGone(entry: Inflight): boolean {
    const round = this.rounds.get(entry.upstreamId);
    if (!round) return !!entry.parked;
    if (round.settle) clearTimeout(round.settle);
    round.settle = undefined;
    // What the child still waits for is moot: its call is over.
    round.asked.clear();
    if (!entry.parked) {
      if (round.expiry) clearTimeout(round.expiry);
      this.rounds.delete(entry.upstreamId);
      return false;
    }
    return true;
  }

  /** The child answered a parked call: the answer waits for the client's retry. */
  keepFinal(entry: Inflight, response: { result?: unknown; error?: unknown }): void {
    const round = this.rounds.get(entry.upstreamId);
    if (!round) return;
    round.final = 'error' in response ? { error: response.error } : { result: response.result };
  }

  /** A parked call was cancelled: its requestState is void from now on. */
  drop(entry: Inflight): void {
    const round = this.rounds.get(entry.upstreamId);
    if (round?.expiry) clearTimeout(round.expiry);
    this.rounds.delete(entry.upstreamId);
  }

  /** The child withdrew a request it had parked with us. */
  childCancelled(childId: RequestId): void {
    for (const round of this.rounds.values()) {
      for (const [key, asked] of round.asked) if (asked.childId === childId) round.asked.delete(key);
    }
  }

  /** Nobody retried in time: the call is cancelled at the child. */
  private expire(round: Round): void {
    this.rounds.delete(round.call.upstreamId);
    if (round.final) return;
    this.log.info(`call ${round.call.upstreamId} (${round.call.method}) waited ${PARK_TIMEOUT_MS / 1000} s for input that never came: cancelled`);
    for (const asked of round.asked.values()) this.router.serverRequests.fallback(asked.childId, asked.method, 'the client never answered input_required');
    round.asked.clear();
    if (this.router.table.get(round.call.upstreamId) === round.call) this.router.cancelUpstream(round.call, 'the client never answered input_required');
  }

  parkedCount(): number {
    let n = 0;
    for (const r of this.rounds.values()) if (r.call.parked) n++;
    return n;
  }
}

/** An input response is the result object of the request it answers. */
function isAnswer(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
