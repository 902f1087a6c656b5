/**
 * What mcpshare knows about popular MCP servers, in one place (data only; no logic).
 *
 * - `match`: a regular expression tested against the command and its arguments joined by spaces
 *   (so it matches `npx -y mongodb-mcp-server`, `node …/mongodb-mcp-server/dist/index.js`, …).
 * - `sharing`: 'stateless' servers are safe to share; 'stateful' ones keep per-session state
 *   (a browser, a REPL, an interactive login) and must stay one per session; `reason` says why.
 * - `native`: the server can speak HTTP/SSE itself. `transportFlag` must be on its command line for
 *   that (without it the process binds nothing useful and silently speaks stdio to nobody),
 *   `portFlag` sets its port, `portValue` is that flag's value with `{port}` standing for the port
 *   (default just `{port}`; mcp-grafana's `--address` wants `host:port`), `path` is its endpoint.
 *   A server whose HTTP mode demands credentials from every client (context7) is not listed as
 *   native: the bridge in front of its stdio mode keeps the client entry a plain URL.
 * - `share`: how a bridged stateless server's process is shared when it is added or imported (see
 *   src/util/share-mode.ts): 'project' for servers whose reach is scoped by the client's roots or
 *   a directory/repository argument (one process per project never widens a session's reach),
 *   'session' for servers that keep a conversation's state in memory; absent: 'global'.
 *   `shareReason` says why.
 * - `memoryOnlyState`: the server keeps what its sessions build up in memory only, so its daemon
 *   never stops it when idle (registry/shareability.ts idleStopDefault); the text says what would be lost.
 */
export type Sharing = 'stateless' | 'stateful';

export interface KnownServer {
  id: string;
  match: RegExp;
  sharing: Sharing;
  reason?: string;
  share?: 'project' | 'session';
  shareReason?: string;
  /**
   * Set for a server that keeps what its sessions build up in memory only: stopping it when idle
   * would lose that, so its daemon never stops it (the reason says what would be lost).
   */
  memoryOnlyState?: string;
  native?: { transport: 'http' | 'sse'; transportFlag: string; portFlag?: string; portValue?: string; path: string };
}

export const KNOWN_SERVERS: readonly KnownServer[] = [
  {
    id: 'mongodb-mcp-server',
    match: /(^|[\s/@])mongodb-mcp-server(\s|@|\/|$)/,
    sharing: 'stateless',
    native: { transport: 'http', transportFlag: '--transport http', portFlag: '--httpPort', path: '/mcp' },
  },
  {
    id: 'mcp-grafana',
    match: /(^|[\s/])mcp-grafana(\s|$)/,
    sharing: 'stateless',
    native: { transport: 'http', transportFlag: '--transport streamable-http', portFlag: '--address', portValue: 'localhost:{port}', path: '/mcp' },
  },
  { id: 'server-everything', match: /server-everything/, sharing: 'stateless' },
  {
    id: 'server-filesystem',
    match: /server-filesystem/,
    sharing: 'stateless',
    share: 'project',
    shareReason: "its reach is the client's roots (or its directory arguments): one process per project keeps each session to its own directory",
  },
  { id: 'server-memory', match: /server-memory/, sharing: 'stateless' },
  {
    id: 'server-sequential-thinking',
    match: /server-sequential-thinking/,
    sharing: 'stateless',
    share: 'session',
    shareReason: 'keeps its thought history and branches in memory, per process: one process per session keeps them apart',
    memoryOnlyState: 'keeps its thought history and branches in memory only',
  },
  { id: 'server-fetch', match: /mcp-server-fetch|server-fetch/, sharing: 'stateless' },
  { id: 'server-github', match: /server-github|github-mcp-server/, sharing: 'stateless' },
  { id: 'context7', match: /context7-mcp/, sharing: 'stateless' },
  { id: 'server-time', match: /mcp-server-time(\s|@|=|$)/, sharing: 'stateless' },
  {
    id: 'server-git',
    match: /mcp-server-git(\s|@|=|$)/,
    sharing: 'stateless',
    share: 'project',
    shareReason: "works on the repository given by --repository or the client's roots: one process per project",
  },
  { id: 'server-brave-search', match: /server-brave-search/, sharing: 'stateless' },
  {
    id: 'playwright',
    match: /playwright/,
    sharing: 'stateful',
    reason: 'drives one browser whose tabs and page state belong to a single session',
  },
  { id: 'puppeteer', match: /puppeteer/, sharing: 'stateful', reason: 'drives one browser whose page state belongs to a single session' },
  {
    id: 'browserbase',
    match: /mcp-server-browserbase|@browserbasehq\/mcp/,
    sharing: 'stateful',
    reason: 'drives one cloud browser session whose page state belongs to a single session',
  },
  { id: 'chrome-devtools', match: /chrome-devtools-mcp/, sharing: 'stateful', reason: 'drives one browser whose page state belongs to a single session' },
  {
    id: 'firebase',
    match: /firebase(-tools)?(\s|@|$).*\bmcp\b|firebase-mcp/,
    sharing: 'stateful',
    reason: 'uses an interactive login and a per-project working directory',
  },
  { id: 'repl', match: /\brepl\b|jupyter|ipython/i, sharing: 'stateful', reason: 'a REPL keeps variables and history per session' },
];

/** The first known server whose pattern matches this command line, if any. */
export function lookupKnown(command: string, args: readonly string[]): KnownServer | undefined {
  const line = [command, ...args].join(' ');
  return KNOWN_SERVERS.find((k) => k.match.test(line));
}
