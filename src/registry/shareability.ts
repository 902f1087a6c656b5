import { lookupKnown, type KnownServer } from './known-servers.js';

/**
 * Whether one instance of a server can serve many sessions, decided from known-servers.ts (the one
 * data file of what mcpshare knows). `import` refines "unknown" by reading the server's `--help`.
 */
export type Verdict = 'shareable' | 'per-session' | 'unknown';

export interface Shareability {
  verdict: Verdict;
  /** For people: why it is shared, kept per session, or undecided. */
  reason: string;
  known?: KnownServer;
}

export function shareabilityOf(command: string, args: readonly string[]): Shareability {
  const known = lookupKnown(command, args);
  if (!known) return { verdict: 'unknown', reason: 'not a server mcpshare knows; it is shareable if it keeps no per-session state' };
  if (known.sharing === 'stateful') return { verdict: 'per-session', reason: `${known.id} ${known.reason ?? 'keeps per-session state'}`, known };
  return {
    verdict: 'shareable',
    reason: known.native ? `${known.id} is stateless and can serve HTTP itself (${known.native.transportFlag})` : `${known.id} is stateless`,
    known,
  };
}
