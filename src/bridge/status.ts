import type { ShareMode } from '../util/share-mode.js';
import type { ChildRow } from './child-pool.js';
import type { RouterStats } from './router.js';
import type { ChildState } from './upstream.js';

/**
 * The body of a bridge's `GET /status`: the one definition the bridge serves (bridge.ts), the
 * health checks and `mcpshare status` read (health/daemon-state.ts) and the tests assert on.
 * Types only, so a reader importing it loads none of the bridge. Fields are only ever added.
 */
export interface BridgeStatus {
  name: string;
  version: string;
  pid: number;
  url: string;
  uptimeSec: number;
  bridgeRssBytes: number | null;
  child: {
    pid: number | null;
    state: ChildState;
    restarts: number;
    rssBytes: number | null;
    lastExit: { code: number | null; signal: string | null; reason: string } | null;
  };
  server: { name: string; version: string; protocolVersion: string } | null;
  sessions: RouterStats['sessions'];
  /** MCP 2026-07-28: stateless requests open now, listen streams, calls parked for input. */
  stateless: RouterStats['stateless'];
  requests: { served: number; inFlight: number; queued: number };
  serverRequests: { routed: number; fallback: number };
  misroutedDropped: number;
  warnings: string[];
  /** How the server's processes are shared; in project and session modes `child` sums up `children`. */
  share: ShareMode;
  /** Every child process of this bridge, one row each (one row in global mode). */
  children: Array<ChildRow & { rssBytes: number | null }>;
}
