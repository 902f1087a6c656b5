import type { ProbeOptions, ProbeResult, ProbeTarget } from './types.js';

export * from './types.js';

/** Handshake with an MCP endpoint on loopback and say what it is. Never throws. */
export async function probe(target: ProbeTarget, opts: ProbeOptions = {}): Promise<ProbeResult> {
  void opts;
  throw new Error(`not implemented yet: ${target.url}`);
}
