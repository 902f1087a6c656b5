import type { Logger } from '../util/log.js';
import type { Router } from './router.js';

/**
 * Stops the child when nobody has used it for `idleMs`; the router starts it again on the next
 * request that needs it (Upstream.wake). Sessions stay: only the process goes. The child is kept
 * while anything still depends on it: a request in flight or queued, a request it sent a client,
 * or a resource subscription (only a running child can report the updates).
 */
export class IdleStop {
  private timer?: NodeJS.Timeout;
  stops = 0;

  constructor(
    private readonly router: Router,
    readonly idleMs: number,
    private readonly log: Logger,
  ) {}

  start(): void {
    // Checked a few times per period: the child stops within idleMs × 1.25 of its last use.
    const every = Math.min(30_000, Math.max(250, Math.floor(this.idleMs / 4)));
    this.timer = setInterval(() => void this.check(), every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Puts the child to sleep if it is idle; true when it did. */
  async check(now = Date.now()): Promise<boolean> {
    const { router } = this;
    const { upstream } = router;
    if (upstream.state !== 'ready' || now - upstream.lastUsed < this.idleMs) return false;
    if (router.table.size > 0 || router.stats().queued > 0) return false;
    if (!router.subscriptions.uris().next().done) return false;
    const idleSec = Math.round((now - upstream.lastUsed) / 1000);
    // What the child was told (log level) and asked (requests to clients) dies with it; the
    // router replays the sessions' settings when it starts again.
    router.serverRequests.childGone();
    router.logLevel.reset();
    const stopping = upstream.sleep();
    if (!stopping) return false;
    this.stops++;
    this.log.info(`MCP server unused for ${idleSec} s: stopping it (the next request starts it again)`);
    await stopping;
    return true;
  }
}
