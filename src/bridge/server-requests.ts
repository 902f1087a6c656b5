import type { JSONRPCMessage, JSONRPCNotification, JSONRPCRequest, RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../util/log.js';
import { ErrorCode, errorResponse, type JSONRPCResponseMessage } from './jsonrpc.js';
import type { Peer } from './peer.js';
import type { Root } from './project-key.js';
import type { Inflight, RequestTable } from './request-table.js';

/** The server→client methods and the client capability each one needs. */
export const CAPABILITY_OF: Record<string, 'roots' | 'sampling' | 'elicitation'> = {
  'roots/list': 'roots',
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
};

/** A request from the child that was handed to one session, by the id that session knows it by. */
interface Route {
  childId: RequestId;
  peer: Peer;
  method: string;
}

/** Who a child request may belong to: a 2025 session as a whole, or one 2026 call. */
export type Requester = { session: Peer } | { call: Inflight };

/** What the dispatcher provides to this part. */
export interface ServerRequestHost {
  readonly table: RequestTable;
  peers(): Iterable<Peer>;
  toChild(message: JSONRPCMessage): void;
  deliver(peer: Peer, message: JSONRPCMessage, relatedRequestId?: RequestId): void;
  childReady(): boolean;
  /** A child request during a 2026 call: it becomes part of that call's `input_required` answer. */
  askDuringCall(call: Inflight, request: JSONRPCRequest): void;
  /**
   * The roots this child may be given, decided by whoever knows which sessions it serves (the child
   * pool): a promise of the answer, or undefined to let the request be routed as any other.
   */
  rootsFor?(): Promise<Root[]> | undefined;
}

export interface ServerRequestStats {
  routed: number;
  fallback: number;
  warnings: string[];
}

/**
 * Requests from the child to "the client" (sampling, elicitation, roots). Over stdio they carry no
 * hint of which client they are for, so each goes to the one requester with work in flight;
 * otherwise the documented fallback answers the child.
 */
export class ServerRequests {
  private readonly routes = new Map<number, Route>();
  private downstreamCounter = 0;
  private routed = 0;
  private fallbacks = 0;
  private readonly warnings = new Set<string>();
  /** Bumped when the child goes away, so a late answer meant for it is dropped. */
  private childRun = 0;

  constructor(
    private readonly host: ServerRequestHost,
    private readonly log: Logger,
  ) {}

  /**
   * The distinct requesters with work at the child: each 2025 session once, each running 2026 call
   * on its own. A parked call is not one: its client is away, and what the child asked it is already
   * out, so counting it would make the next call's request look ambiguous.
   */
  requesters(): Requester[] {
    const sessions = new Set<Peer>();
    const out: Requester[] = [];
    for (const entry of this.host.table.values()) {
      if (entry.parked) continue;
      if (entry.peer.era === 'stateless') out.push({ call: entry });
      else if (!sessions.has(entry.peer)) {
        sessions.add(entry.peer);
        out.push({ session: entry.peer });
      }
    }
    return out;
  }

  onChildRequest(request: JSONRPCRequest): void {
    if (request.method === 'roots/list' && this.answerRoots(request.id)) return;
    const busy = this.requesters();
    if (busy.length === 1 && 'call' in busy[0]) {
      this.routed++;
      this.host.askDuringCall(busy[0].call, request);
      return;
    }
    if (busy.length === 1 && 'session' in busy[0] && capable(busy[0].session, request.method)) {
      const session = busy[0].session;
      const downstreamId = ++this.downstreamCounter;
      this.routes.set(downstreamId, { childId: request.id, peer: session, method: request.method });
      this.routed++;
      // Send it on the stream of the session's oldest in-flight request: that stream is open.
      const oldest = this.host.table.get(Math.min(...session.inflight));
      this.host.deliver(session, { ...request, id: downstreamId }, oldest?.clientId);
      return;
    }
    this.fallbacks++;
    const why =
      busy.length === 0
        ? 'no client has a request in flight'
        : busy.length === 1
          ? `the requesting client did not declare the capability for ${request.method}`
          : `${busy.length} clients have requests in flight, so the requester is ambiguous`;
    this.warnings.add(`the server sends ${request.method} requests, which cannot always be routed to one client; it may not be a good fit for sharing`);
    this.fallback(request.id, request.method, why);
  }

  /** A session answered a request the child sent it. Returns false when it was not one of ours. */
  onClientResponse(peer: Peer, response: JSONRPCResponseMessage): boolean {
    const route = typeof response.id === 'number' ? this.routes.get(response.id) : undefined;
    if (!route || route.peer !== peer) return false;
    this.routes.delete(response.id as number);
    this.host.toChild({ ...response, id: route.childId } as JSONRPCMessage);
    return true;
  }

  /** The child withdrew one of its own requests: the session that was asked is told, with its id. */
  onChildCancelled(note: JSONRPCNotification): void {
    const params = (note.params ?? {}) as Record<string, unknown>;
    for (const [downstreamId, route] of this.routes) {
      if (route.childId !== params.requestId) continue;
      this.routes.delete(downstreamId);
      this.host.deliver(route.peer, { ...note, params: { ...params, requestId: downstreamId } });
    }
  }

  /** A session ended: what it was asked is answered by the fallback. */
  peerGone(peer: Peer): void {
    for (const [downstreamId, route] of this.routes) {
      if (route.peer !== peer) continue;
      this.routes.delete(downstreamId);
      this.fallback(route.childId, route.method, 'the client that was asked has disconnected');
    }
  }

  /** The child is gone: its requests died with it. */
  childGone(): void {
    this.routes.clear();
    this.childRun++;
  }

  /** Answers the child when no client can: elicitation is cancelled, roots are empty, sampling fails. */
  fallback(childId: RequestId, method: string, why: string): void {
    this.log.warn(`server request ${method} answered by the fallback: ${why}`);
    if (method === 'elicitation/create') {
      this.host.toChild({ jsonrpc: '2.0', id: childId, result: { action: 'cancel' } });
    } else if (method === 'roots/list') {
      this.host.toChild({ jsonrpc: '2.0', id: childId, result: { roots: [] } });
    } else {
      const code = method === 'sampling/createMessage' ? ErrorCode.InternalError : ErrorCode.MethodNotFound;
      this.host.toChild(errorResponse(childId, code, `mcpshare could not route ${method}: ${why}`));
    }
  }

  countFallback(): void {
    this.fallbacks++;
  }

  stats(): ServerRequestStats {
    return { routed: this.routed, fallback: this.fallbacks, warnings: [...this.warnings] };
  }

  warn(text: string): void {
    this.warnings.add(text);
  }

  /**
   * roots/list answered by the bridge from what the pool says this child may see (never the union
   * of the sessions' roots: that would widen every session's reach). False when no one decides.
   */
  private answerRoots(childId: RequestId): boolean {
    const decided = this.host.rootsFor?.();
    if (!decided) return false;
    this.routed++;
    const run = this.childRun;
    void decided.then((roots) => {
      // A restarted child asks again; an answer for the previous process must not reach the new one.
      if (run !== this.childRun || !this.host.childReady()) return;
      this.host.toChild({ jsonrpc: '2.0', id: childId, result: { roots } });
    });
    return true;
  }
}

/** Whether a peer declared the capability a server→client method needs. */
export function capable(peer: Peer, method: string): boolean {
  const cap = CAPABILITY_OF[method];
  return !cap || !!(peer.capabilities as Record<string, unknown>)[cap];
}
