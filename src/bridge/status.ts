import type { Memory } from '../util/procinfo.js';
import type { ShareMode } from '../util/share-mode.js';
import type { BridgeStateStatus } from './bridge-state.js';
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
  /** The bridge process's own memory: PSS where the OS gives it, else RSS (`kind` says which). */
  bridgeMemory: Memory | null;
  child: {
    pid: number | null;
    /** `idle`: no process on purpose (not needed yet, or stopped for being unused). */
    state: ChildState;
    restarts: number;
    rssBytes: number | null;
    /** The child's process group (every child's, in project and session modes), PSS or RSS; 0 while asleep. */
    memory: Memory | null;
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
  children: Array<ChildRow & { rssBytes: number | null; memory: Memory | null }>;
  /** Lazy start, idle stop, resumable sessions and the discovery snapshot. */
  idle: BridgeStateStatus;
}
