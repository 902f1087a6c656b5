/**
 * What a health probe found, for people and for the tray. `diagnosis` is the stable machine field
 * (documented in the README, only ever extended); `message` and `fix` are for people.
 */
export type Transport = 'http' | 'sse';

export type Diagnosis =
  /** Spoke MCP: answered initialize with serverInfo. */
  | 'up'
  /** Nothing listens on the port (connection refused). */
  | 'refused'
  /** Accepted the connection but never answered HTTP: typically a server left in stdio mode. */
  | 'silent'
  /** Answered HTTP, but the answer to initialize did not come in time (a cold `npx` start, an overloaded server). */
  | 'timeout'
  /** Speaks MCP, but at another path or over the other transport (`suggestion` says which works). */
  | 'wrong-path'
  | 'wrong-transport'
  /** An HTTP error status at the MCP endpoint (401, 500, …). */
  | 'http-error'
  /** Answers HTTP, but not MCP (an HTML page, a JSON API, …). */
  | 'not-mcp'
  /** The URL is https or names a host that is not loopback: mcpshare probes only local plain-HTTP daemons. */
  | 'not-loopback'
  /** The second of two concurrent sessions failed (or broke the first): a single-client server posing as shared. */
  | 'single-client';

export interface ProbeTarget {
  url: string;
  transport: Transport;
}

export interface ProbeResult {
  url: string;
  transport: Transport;
  ok: boolean;
  diagnosis: Diagnosis;
  /** The MCP server's own name and version (when it answered initialize). */
  server?: { name: string; version: string };
  protocolVersion?: string;
  capabilities?: Record<string, unknown>;
  /** Wall time of the handshake in milliseconds. */
  latencyMs: number;
  /** HTTP status behind an http-error / not-mcp / wrong-* diagnosis. */
  status?: number;
  /** One sentence for people: what was found. */
  message: string;
  /** What to do about it, when something can be done. */
  fix?: string;
  /** The endpoint that does work, when the probe found one by trying the other path/transport. */
  suggestion?: ProbeTarget;
  /** The process listening on the port, when the probe could tell (silent, not-mcp). */
  portHolder?: { pid: number; command: string };
  /** Result of the two-concurrent-sessions probe, when asked for. */
  concurrency?: { ok: boolean; message: string };
}

export interface ProbeOptions {
  /** Per-step timeout (connect, first bytes, the initialize answer). Default 3000 ms. */
  timeoutMs?: number;
  /** Also open two sessions at once and prove both work. */
  concurrency?: boolean;
  /** Do not try the other path/transport when the endpoint is wrong (the monitor's cheap mode). */
  noAlternatives?: boolean;
}
