/**
 * How one server's process is shared among the sessions of its bridge:
 * - global: one child for every session (the bridge's original mode);
 * - project: one child per project (the session's roots, or the project directory its client entry
 *   names), shared by that project's sessions; a session that names no project gets its own child;
 * - session: one child per session.
 * A server never reaches further than the sessions it serves asked for: see child-pool.ts.
 */
export type ShareMode = 'global' | 'project' | 'session';

export const SHARE_MODES: readonly ShareMode[] = ['global', 'project', 'session'];

export function isShareMode(v: unknown): v is ShareMode {
  return typeof v === 'string' && (SHARE_MODES as readonly string[]).includes(v);
}

/** Parses a `--share` value, with an error that lists the choices. */
export function parseShareMode(v: string, flag = '--share'): ShareMode {
  if (isShareMode(v)) return v;
  throw new Error(`${flag} must be one of ${SHARE_MODES.join(', ')}, got "${v}"`);
}

/** One line for people: what the mode means for this server's processes. */
export function describeShareMode(mode: ShareMode): string {
  switch (mode) {
    case 'global':
      return 'one process for every session';
    case 'project':
      return "one process per project, shared by that project's sessions";
    case 'session':
      return 'one process per session';
  }
}
