import type { IncomingMessage } from 'node:http';
import type { JSONRPCMessage, JSONRPCNotification, JSONRPCRequest, RequestId } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, errorResponse, isNotification, isRequest, isResponse } from '../bridge/jsonrpc.js';
import { HttpClient, isRefused, readText } from './http.js';
import { readMessages } from './replies.js';
import type { Target } from './target.js';

export interface RelayOptions {
  target: Target;
  /** One message to the client (stdout: protocol only). */
  write(message: JSONRPCMessage): void;
  /** One line for a person (stderr). */
  log(line: string): void;
  /** How long refused connections are retried (a daemon restarting) before a request gets an error. */
  retryMs: number;
  /** `Authorization: Bearer` for a daemon started with --token. */
  token?: string;
}

/** Reconnect pacing while the daemon is away: a restart is back in about two seconds. */
const RETRY_STEP_MS = 250;
const RETRY_MAX_MS = 2000;
const DELETE_TIMEOUT_MS = 2000;

type Capabilities = Record<string, { listChanged?: boolean } | undefined>;

class Unreachable extends Error {}

/** The name could not be resolved (not registered, a registry that cannot be read): its message says what to do. */
const isTargetError = (err: unknown) => ['TargetError', 'RegistryLookupError', 'McpshareError'].includes((err as Error)?.name);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const short = (sid: string | undefined) => (sid ? sid.slice(0, 8) : 'none');
const keyOf = (id: RequestId) => (typeof id === 'string' ? `s:${id}` : `n:${id}`);
const headerOf = (res: IncomingMessage, name: string) => {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
};
const reason = (err: unknown) => {
  const e = err as NodeJS.ErrnoException;
  return e?.code ? `${e.code}${e.message && !e.message.includes(e.code) ? `: ${e.message}` : ''}` : (e?.message ?? String(err));
};

/**
 * One stdio client's MCP session, relayed to a daemon's Streamable HTTP endpoint.
 *
 * - Every client message is POSTed in the order it arrives; each reply (JSON, or an SSE stream of
 *   progress, server requests, then the result) is written to the client in the order it comes.
 * - After `notifications/initialized`, the standalone GET stream carries server notifications and
 *   server→client requests (sampling, elicitation, roots); the client's answers are POSTed back.
 * - The daemon restarting is invisible: a 404 for the session (the daemon forgot it) replays the
 *   client's own initialize and initialized, its log level and subscriptions, and reopens the GET
 *   stream; the message that met the 404 is then sent again (it was never delivered). Refused
 *   connections are retried for `retryMs`. A request whose reply was cut mid-way is answered with an
 *   error, never sent twice: it may have run.
 * - No request ever hangs on the shim: an unreachable daemon or a reply that ends early becomes a
 *   JSON-RPC error with the client's id.
 */
export class Relay {
  private readonly http = new HttpClient();
  private url?: URL;
  private sessionId?: string;
  private protocolVersion?: string;
  private serverCapabilities: Capabilities = {};
  /** Bumped whenever the session changes, so a 404 from an old session restores only once. */
  private generation = 0;
  /** The client's own initialize, replayed when the daemon forgot the session. */
  private initializeRequest?: JSONRPCRequest;
  private initialized = false;
  private restoring?: Promise<void>;
  private initializing?: Promise<void>;
  private readonly subscriptions = new Set<string>();
  private logLevel?: string;
  private readonly pending = new Map<string, { cancelled: boolean }>();
  private stream?: IncomingMessage;
  private streamLoopStarted = false;
  private downSince?: number;
  private closing = false;
  private internalIds = 0;

  constructor(private readonly opts: RelayOptions) {}

  /** A message from the client. */
  receive(message: JSONRPCMessage): void {
    if (this.closing) return;
    if (isRequest(message)) {
      void this.request(message);
      return;
    }
    if (isNotification(message)) {
      if (message.method === 'notifications/cancelled') {
        const id = (message.params as { requestId?: RequestId } | undefined)?.requestId;
        const pending = id === undefined ? undefined : this.pending.get(keyOf(id));
        if (pending) pending.cancelled = true;
      }
      void this.notify(message);
      return;
    }
    void this.notify(message); // the client's answer to a server→client request
  }

  /** The client left (stdin ended): end the session on the daemon and let go of every socket. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.stream?.destroy();
    const sid = this.sessionId;
    if (sid && this.url) {
      const deleted = this.http.request(this.url, 'DELETE', this.headers('DELETE', sid)).then((res) => res.resume());
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, DELETE_TIMEOUT_MS)));
      await Promise.race([deleted.catch(() => undefined), timeout]);
      clearTimeout(timer);
    }
    this.http.destroy();
  }

  private write(message: JSONRPCMessage): void {
    if (!this.closing) this.opts.write(message);
  }

  private request(m: JSONRPCRequest): Promise<void> {
    if (m.method !== 'initialize') return this.forward(m);
    // Messages that arrive before the initialize is answered wait for its session (a client that
    // does not wait for the reply would otherwise see them refused for want of a session id).
    const done = this.forward(m);
    const initializing = done.finally(() => {
      if (this.initializing === initializing) this.initializing = undefined;
    });
    this.initializing = initializing;
    return done;
  }

  private async forward(m: JSONRPCRequest): Promise<void> {
    const key = keyOf(m.id);
    const state = { cancelled: false };
    this.pending.set(key, state);
    let answered = false;
    const onReply = (reply: JSONRPCMessage) => {
      if (isResponse(reply) && reply.id === m.id) {
        if (answered) return;
        answered = true;
        this.remember(m, reply);
      }
      this.write(reply);
    };
    try {
      await this.exchange(m, onReply);
      if (!answered && !state.cancelled) {
        this.write(errorResponse(m.id, ErrorCode.ServerUnavailable, `${this.opts.target.label} ended its reply to ${m.method} without an answer`));
      }
    } catch (err) {
      if (this.closing) return;
      // An unreachable daemon or an unknown name already reads as a whole sentence.
      const text = err instanceof Unreachable || isTargetError(err) ? (err as Error).message : `${this.opts.target.label}: ${m.method} failed: ${reason(err)}`;
      this.opts.log(text);
      if (!answered && !state.cancelled) this.write(errorResponse(m.id, ErrorCode.ServerUnavailable, text));
    } finally {
      if (this.pending.get(key) === state) this.pending.delete(key);
    }
  }

  private async notify(m: JSONRPCMessage): Promise<void> {
    const initialized = isNotification(m) && m.method === 'notifications/initialized';
    // Recorded before delivery: a replay after a restart must include it even if this POST failed.
    if (initialized) this.initialized = true;
    try {
      await this.exchange(m, (reply) => this.write(reply));
    } catch (err) {
      if (!this.closing)
        this.opts.log(
          `could not deliver ${isNotification(m) ? m.method : 'an answer to a server request'}: ${err instanceof Unreachable ? err.message : reason(err)}`,
        );
    }
    if (initialized && !this.streamLoopStarted) {
      this.streamLoopStarted = true;
      void this.streamLoop();
    }
  }

  /** POSTs one client message and relays what comes back; a forgotten session is restored and the message sent again. */
  private async exchange(m: JSONRPCMessage, onReply: (reply: JSONRPCMessage) => void): Promise<void> {
    const initialize = isRequest(m) && m.method === 'initialize';
    for (let restores = 0; ; restores++) {
      if (!initialize) await this.ensureSession();
      const generation = this.generation;
      const session = initialize ? undefined : this.sessionId;
      const res = await this.send('POST', JSON.stringify(m), session);
      if (res.statusCode === 404 && session !== undefined && restores < 2) {
        res.resume();
        await this.restore(generation, `${isNotification(m) || isRequest(m) ? m.method : 'an answer'} got 404`);
        // An answer to a server request belongs to the session that asked: the new one never did.
        if (isResponse(m)) return this.opts.log(`dropped an answer to a request of the old session ${short(session)}`);
        continue;
      }
      if ((res.statusCode ?? 500) >= 400) return this.httpError(m, res, onReply);
      if (initialize) {
        const sid = headerOf(res, 'mcp-session-id');
        return readMessages(
          res,
          (reply) => {
            if (isResponse(reply) && reply.id === m.id && 'result' in reply) this.adopt(m as JSONRPCRequest, reply.result, sid);
            onReply(reply);
          },
          (junk) => this.junk(junk),
        );
      }
      return readMessages(res, onReply, (junk) => this.junk(junk));
    }
  }

  /** The client's initialize succeeded: this is now the session (a second initialize starts a new one). */
  private adopt(m: JSONRPCRequest, result: Record<string, unknown>, sid: string | undefined): void {
    const previous = this.sessionId;
    this.sessionId = sid;
    this.generation++;
    this.initializeRequest = m;
    this.protocolVersion = typeof result.protocolVersion === 'string' ? result.protocolVersion : undefined;
    this.serverCapabilities = (result.capabilities as Capabilities) ?? {};
    if (previous && previous !== sid && this.url) {
      void this.http.request(this.url, 'DELETE', this.headers('DELETE', previous)).then(
        (res) => res.resume(),
        () => undefined,
      );
    }
  }

  /** Keeps what a replayed session must restore: subscriptions and the log level. */
  private remember(m: JSONRPCRequest, reply: JSONRPCMessage): void {
    if (!('result' in reply)) return;
    const params = (m.params ?? {}) as { uri?: unknown; level?: unknown };
    if (m.method === 'resources/subscribe' && typeof params.uri === 'string') this.subscriptions.add(params.uri);
    else if (m.method === 'resources/unsubscribe' && typeof params.uri === 'string') this.subscriptions.delete(params.uri);
    else if (m.method === 'logging/setLevel' && typeof params.level === 'string') this.logLevel = params.level;
  }

  /** An HTTP error status: its JSON-RPC error (or the status) answers a request; for anything else it is logged. */
  private async httpError(m: JSONRPCMessage, res: IncomingMessage, onReply: (reply: JSONRPCMessage) => void): Promise<void> {
    const text = await readText(res).catch(() => '');
    let error: { code?: unknown; message?: unknown } | undefined;
    try {
      error = JSON.parse(text)?.error;
    } catch {
      /* not JSON: use the status line */
    }
    const message = typeof error?.message === 'string' ? error.message : `HTTP ${res.statusCode}${text ? `: ${text.slice(0, 200)}` : ''}`;
    const code = typeof error?.code === 'number' ? error.code : ErrorCode.ServerUnavailable;
    if (isRequest(m)) onReply(errorResponse(m.id, code, message));
    else this.opts.log(`${this.opts.target.label} refused ${isNotification(m) ? m.method : 'an answer to a server request'}: ${message}`);
  }

  private junk(text: string): void {
    this.opts.log(`${this.opts.target.label} sent something that is not JSON-RPC (skipped): ${text.slice(0, 200)}`);
  }

  /** Waits for a restore under way, or starts one when the session was lost and not yet restored. */
  private async ensureSession(): Promise<void> {
    if (this.initializing) await this.initializing;
    if (this.restoring) await this.restoring;
    else if (this.sessionId === undefined && this.initializeRequest) await this.restore(this.generation, 'no session');
  }

  private restore(failedGeneration: number, why: string): Promise<void> {
    if (this.restoring) return this.restoring;
    if (this.generation !== failedGeneration) return Promise.resolve(); // restored since that message was sent
    this.restoring = this.reinitialize(why).finally(() => (this.restoring = undefined));
    return this.restoring;
  }

  /** A new session carrying the old one's state: initialize, initialized, log level, subscriptions, GET stream. */
  private async reinitialize(why: string): Promise<void> {
    const init = this.initializeRequest!;
    const old = this.sessionId;
    if (old !== undefined) {
      this.opts.log(
        `session ${short(old)} with ${this.opts.target.label} is gone (${why}; the daemon restarted?): opening a new one with the client's own initialize`,
      );
      this.sessionId = undefined;
    }
    this.stream?.destroy(); // it belongs to the old session
    const res = await this.send('POST', JSON.stringify({ ...init, id: this.internalId() }), undefined);
    if ((res.statusCode ?? 500) >= 400) throw new Error(`re-initialize refused: HTTP ${res.statusCode} ${(await readText(res).catch(() => '')).slice(0, 200)}`);
    const sid = headerOf(res, 'mcp-session-id');
    const reply = await this.collect(res);
    if (!reply || !('result' in reply)) throw new Error(`re-initialize failed: ${reply && 'error' in reply ? reply.error.message : 'no answer'}`);
    const result = reply.result as { protocolVersion?: string; capabilities?: Capabilities };
    if (result.protocolVersion !== this.protocolVersion) {
      this.opts.log(`warning: the new session negotiated protocol ${result.protocolVersion} (the client had ${this.protocolVersion})`);
    }
    this.sessionId = sid;
    this.generation++;
    this.protocolVersion = result.protocolVersion ?? this.protocolVersion;
    this.serverCapabilities = result.capabilities ?? {};
    // Nothing below may fail the restore: the session exists; a step that fails is logged.
    const steps: Array<[string, JSONRPCMessage]> = [];
    if (this.initialized) steps.push(['initialized', { jsonrpc: '2.0', method: 'notifications/initialized' }]);
    if (this.logLevel)
      steps.push([`log level ${this.logLevel}`, { jsonrpc: '2.0', id: this.internalId(), method: 'logging/setLevel', params: { level: this.logLevel } }]);
    for (const uri of this.subscriptions)
      steps.push([`subscription ${uri}`, { jsonrpc: '2.0', id: this.internalId(), method: 'resources/subscribe', params: { uri } }]);
    for (const [what, message] of steps) {
      try {
        const r = await this.send('POST', JSON.stringify(message), sid);
        if ((r.statusCode ?? 500) >= 400) throw new Error(`HTTP ${r.statusCode}`);
        const answer = await this.collect(r);
        if (answer && 'error' in answer) throw new Error(answer.error.message);
      } catch (err) {
        this.opts.log(`warning: the new session could not restore ${what}: ${reason(err)}`);
      }
    }
    this.opts.log(`session with ${this.opts.target.label} restored (new session ${short(sid)})`);
    // The server may have changed while it was away (an upgrade): let the client list again.
    for (const kind of ['tools', 'prompts', 'resources']) {
      if (this.serverCapabilities[kind]?.listChanged) this.write({ jsonrpc: '2.0', method: `notifications/${kind}/list_changed` } as JSONRPCNotification);
    }
  }

  /** Reads a reply to one of the shim's own requests: the response is kept, anything else goes to the client. */
  private async collect(res: IncomingMessage): Promise<JSONRPCMessage | undefined> {
    let response: JSONRPCMessage | undefined;
    await readMessages(
      res,
      (m) => {
        if (isResponse(m)) response = m;
        else this.write(m);
      },
      (junk) => this.junk(junk),
    );
    return response;
  }

  private internalId(): string {
    return `mcpshare-connect-${++this.internalIds}`;
  }

  /** The standalone GET stream, kept open for the life of the session (and of the next one after a restart). */
  private async streamLoop(): Promise<void> {
    let delay = RETRY_STEP_MS;
    const backoff = async () => {
      await sleep(delay);
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    };
    while (!this.closing) {
      try {
        await this.ensureSession();
      } catch {
        await backoff(); // the daemon is still away: the restore is tried again
        continue;
      }
      const generation = this.generation;
      let res: IncomingMessage;
      try {
        res = await this.send('GET', undefined, this.sessionId);
      } catch {
        await backoff();
        continue;
      }
      if (this.closing || generation !== this.generation) {
        res.destroy();
        continue;
      }
      if (res.statusCode === 404) {
        res.resume();
        await this.restore(generation, 'its event stream got 404').catch(backoff);
        continue;
      }
      if (res.statusCode === 405) {
        res.resume();
        this.opts.log(`${this.opts.target.label} has no standalone event stream: server notifications arrive only with replies`);
        return;
      }
      if (res.statusCode !== 200) {
        this.opts.log(`${this.opts.target.label} refused the event stream: HTTP ${res.statusCode} ${(await readText(res).catch(() => '')).slice(0, 200)}`);
        await backoff();
        continue;
      }
      delay = RETRY_STEP_MS;
      this.stream = res;
      await readMessages(
        res,
        (m) => this.write(m),
        (junk) => this.junk(junk),
      ).catch(() => undefined);
      if (this.stream === res) this.stream = undefined;
      // The stream ends when the daemon stops or replaces it: pause so a closing daemon is not hammered.
      if (!this.closing) await sleep(RETRY_STEP_MS);
    }
  }

  /**
   * One HTTP request to the daemon. A refused connection (the daemon is stopped or restarting) is
   * tried again until the daemon has been away for `retryMs`; after that, at once, until it answers.
   */
  private async send(method: 'POST' | 'GET', body: string | undefined, session: string | undefined): Promise<IncomingMessage> {
    for (;;) {
      const url = (this.url ??= this.opts.target.resolve());
      try {
        const res = await this.http.request(url, method, this.headers(method, session), body);
        if (this.downSince !== undefined) {
          this.downSince = undefined;
          this.opts.log(`${this.opts.target.label} answers again at ${url.href}`);
        }
        return res;
      } catch (err) {
        if (!isRefused(err) || this.closing) throw err;
        this.url = undefined; // looked up again next time: "mcpshare edit --port" may have moved it
        const now = Date.now();
        if (this.downSince === undefined) {
          this.downSince = now;
          this.opts.log(`cannot reach ${this.opts.target.label} at ${url.href} (connection refused); ${this.opts.target.downHint}`);
        }
        if (now - this.downSince >= this.opts.retryMs) {
          throw new Unreachable(`${this.opts.target.label} is not reachable at ${url.href} (connection refused): ${this.opts.target.downHint}`);
        }
        await sleep(RETRY_STEP_MS);
      }
    }
  }

  private headers(method: 'POST' | 'GET' | 'DELETE', session: string | undefined): Record<string, string> {
    const h: Record<string, string> = {};
    if (method === 'POST') {
      h['content-type'] = 'application/json';
      h.accept = 'application/json, text/event-stream';
    } else if (method === 'GET') {
      h.accept = 'text/event-stream';
    }
    if (session !== undefined) {
      h['mcp-session-id'] = session;
      if (this.protocolVersion) h['mcp-protocol-version'] = this.protocolVersion;
    }
    if (this.opts.token) h.authorization = `Bearer ${this.opts.token}`;
    return h;
  }
}
