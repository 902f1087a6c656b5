/**
 * Which processes of a snapshot are MCP servers, which client session each copy belongs to, and
 * which servers mcpshare already shares. Pure: a snapshot (and the registered daemons) in, a
 * Detection out.
 *
 * - An MCP server is recognised by its program's name (see MCP_NAME), looked at through launchers
 *   (npx, uvx, `sh -c`, node, python): a package, script, module or executable whose name has `mcp`
 *   as a word, or `modelcontextprotocol`; or a CLI started with an `mcp` subcommand
 *   (`firebase experimental:mcp`). known-servers.ts decides shareability later, but not detection:
 *   its generic patterns (/playwright/, /repl/) would count test runners and notebooks.
 * - An instance is one launch: the topmost process of a chain of server processes and `sh -c`/env
 *   wrappers (`npm exec @x/server` → `sh -c` → `node …/server`); it costs the RSS of its whole subtree.
 * - Its session is the parent of that chain: the client (Claude Code's `claude`, an editor) or any
 *   other process; none when the parent is init or a service manager (a daemon, or an orphan a
 *   closed session left behind).
 * - mcpshare's own bridges (and the servers under them, under its supervisor or a registered daemon
 *   pid) are "already shared", never counted as copies.
 */
import { fileURLToPath } from 'node:url';
import { basename, isLaunchWrapper, normaliseCommand, programOf, targetName, type Program } from './command-line.js';
import type { ProcessInfo, ProcessSnapshot } from './processes.js';

export interface SessionRef {
  pid: number;
  /** The parent's program name (`claude`, `node`, `code`), or `?` when it could not be read. */
  name: string;
  /** The client it is, when recognised: `Claude Code`, `Cursor`, `VS Code`, … */
  client: string | null;
}

export interface Instance {
  /** The top of the launch (what the session started). */
  pid: number;
  /** The outermost process that is the server itself (the same as pid unless a `sh -c` wraps it). */
  serverPid: number;
  /** The server process's command line. */
  argv: string[];
  /** The normalised command line (grouping key). */
  key: string;
  /** The name people know the server by: package, script's package, module or executable. */
  server: string;
  /** Every process of the launch: the top and all its descendants. */
  pids: number[];
  rssBytes: number;
  session: SessionRef | null;
  /** The server's working directory, when the scan could read it (its session's project, for clients that start servers there). */
  cwd?: string;
}

export type SharedKind = 'bridge' | 'demo' | 'native';

export interface SharedDaemon {
  pid: number;
  kind: SharedKind;
  /** The registry name (or a bridge's --name), when known. */
  name: string | null;
  port: number | null;
  /** The shared server's command line: what follows a bridge's `--`, or the native daemon's argv. */
  command: string[];
  key: string | null;
  /** A bridge's own RSS (without its server); for a native daemon, the top process. */
  ownRssBytes: number;
  /** The server under a bridge (its whole subtree: every child of a project- or session-mode bridge); for a native daemon, its descendants. */
  serverRssBytes: number;
  pids: number[];
  /** Server processes right under it: a bridge runs one per project or session in those modes. */
  children: number;
}

/** A daemon from mcpshare's registry, as `ServerManager.status()` reports it. */
export interface RegisteredDaemon {
  name: string;
  kind: 'bridged' | 'native';
  pid: number | null;
}

export interface Detection {
  instances: Instance[];
  shared: SharedDaemon[];
}

export interface DetectOptions {
  daemons?: readonly RegisteredDaemon[];
  /** This install's CLI script (processes running it are mcpshare's own). */
  ownCli?: string;
}

/** `mcp` as a word of a name (`mcp-server-x`, `x-mcp`, `@x/mcp`, `mcp_server_x`), or the protocol's own scope. */
export const MCP_NAME = /(^|[^a-z0-9])mcp([^a-z0-9]|$)|modelcontextprotocol|fastmcp/i;
/** An `mcp` subcommand: `mcp`, `experimental:mcp`, `mcp-server`, `serve-mcp` (a word, not a file). */
const MCP_SUBCOMMAND = /^[\w:-]*(^|[:_-])mcp([:_-][\w:-]*)?$/i;
/** Tools that take `mcp` as an argument without being a server (`grep mcp`, `vim mcp-notes`). */
const TEXT_TOOLS = new Set([
  'grep',
  'egrep',
  'fgrep',
  'rg',
  'ag',
  'ack',
  'less',
  'more',
  'most',
  'tail',
  'head',
  'cat',
  'bat',
  'vi',
  'vim',
  'nvim',
  'nano',
  'emacs',
  'man',
  'find',
  'fd',
  'git',
  'ls',
  'echo',
  'printf',
  'ps',
  'pgrep',
  'pkill',
  'kill',
  'watch',
  'tee',
  'sed',
  'awk',
  'sort',
  'which',
  'type',
  'strace',
  'lsof',
  'journalctl',
  'systemctl',
  'launchctl',
  'mcpshare',
]);

/** Clients by program name; the label is what people call them. */
const CLIENTS: ReadonlyArray<[RegExp, string]> = [
  [/^(claude|@anthropic-ai\/claude-code)$/, 'Claude Code'],
  // macOS: the app bundle (and its helpers); Linux: the community packages' `claude-desktop`.
  [/^(Claude( Helper.*)?|claude-desktop)$/, 'Claude Desktop'],
  [/^(cursor|Cursor( Helper.*)?|cursor-agent)$/, 'Cursor'],
  [/^(code|code-insiders|codium|Code( Helper.*)?|Visual Studio Code)$/, 'VS Code'],
  [/^(windsurf|Windsurf( Helper.*)?)$/i, 'Windsurf'],
  [/^(codex|@openai\/codex)$/, 'Codex'],
  [/^(gemini|@google\/gemini-cli)$/, 'Gemini CLI'],
  [/^(zed|zed-editor|zeditor|Zed)$/, 'Zed'],
  [/^goose$/, 'Goose'],
  [/^(opencode|opencode-ai)$/, 'opencode'],
  [/^(amp|@sourcegraph\/amp)$/, 'Amp'],
  [/^(qwen|@qwen-code\/qwen-code)$/, 'Qwen Code'],
  [/^(copilot|@github\/copilot)$/, 'Copilot CLI'],
  [/^kiro$/i, 'Kiro'],
];

const SERVICE_MANAGERS = new Set(['systemd', 'launchd', 'init', 'upstart', 'runit', 'runsv', 's6-supervise', 'supervisord']);

export function defaultOwnCli(): string | undefined {
  try {
    return fileURLToPath(new URL('../cli.js', import.meta.url));
  } catch {
    return undefined;
  }
}

/** The client a process is, by its program's name, its kernel name, or a macOS app bundle in its path. */
export function clientOf(p: ProcessInfo, prog: Program | undefined): string | null {
  const names = [prog ? targetName(prog) : '', p.name, p.argv[0] ? basename(p.argv[0]) : ''];
  const app = /\/([^/]+)\.app\/Contents\//.exec(p.argv.join(' '));
  if (app) names.push(app[1]);
  // An Electron app run by the generic `electron` binary on Linux is known by its app folder.
  const electronApp = /\/(claude-desktop)\/(?:app\.asar|resources\/)/.exec(p.argv.join(' '));
  if (electronApp) names.push(electronApp[1]);
  for (const [re, label] of CLIENTS) if (names.some((n) => n && re.test(n))) return label;
  return null;
}

/** mcpshare's own CLI running a subcommand (`bridge`, `demo`, `supervise`, …): the subcommand and its args. */
export function mcpshareCommand(prog: Program | undefined, ownCli?: string): { sub: string; args: string[] } | undefined {
  if (!prog || !prog.args.length) return undefined;
  const t = prog.target;
  const isOurs =
    (prog.kind === 'executable' && basename(t) === 'mcpshare') ||
    (prog.kind === 'script' &&
      (t === ownCli ||
        /(^|\/)mcpshare\/dist\/cli\.js$/.test(t) ||
        /\/node_modules\/mcpshare\//.test(t) ||
        /(^|\/)(node_modules\/\.bin\/)?mcpshare$/.test(t) ||
        // Any checkout's `dist/cli.js bridge … -- CMD` (often started with a relative path).
        (/(^|\/)dist\/cli\.js$/.test(t) && prog.args[0] === 'bridge' && prog.args.includes('--'))));
  return isOurs ? { sub: prog.args[0], args: prog.args.slice(1) } : undefined;
}

/** True when a program looks like an MCP server (see MCP_NAME and MCP_SUBCOMMAND). */
export function looksLikeMcpServer(prog: Program | undefined): boolean {
  if (!prog || prog.kind === 'inline') return false;
  if (MCP_NAME.test(targetName(prog))) return true;
  if (TEXT_TOOLS.has(basename(prog.target))) return false;
  const first = prog.args.find((a) => !a.startsWith('-'));
  return first !== undefined && !first.includes('/') && !first.includes('.') && MCP_SUBCOMMAND.test(first);
}

type Role = 'server' | 'client' | 'mcpshare' | 'wrapper' | 'other';

interface Node {
  p: ProcessInfo;
  prog: Program | undefined;
  role: Role;
  client: string | null;
  mcpshare?: { sub: string; args: string[] };
}

function optionValue(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--') return undefined;
    if (args[i] === name) return args[i + 1];
    if (args[i].startsWith(`${name}=`)) return args[i].slice(name.length + 1);
  }
  return undefined;
}

export function detect(snapshot: ProcessSnapshot, opts: DetectOptions = {}): Detection {
  const ownCli = opts.ownCli ?? defaultOwnCli();
  const nodes = new Map<number, Node>();
  const children = new Map<number, number[]>();
  for (const p of snapshot.processes) {
    if (p.pid === snapshot.selfPid) continue;
    const prog = programOf(p.argv);
    const client = clientOf(p, prog);
    const ms = client ? undefined : mcpshareCommand(prog, ownCli);
    let role: Role = 'other';
    if (client) role = 'client';
    else if (ms) role = 'mcpshare';
    else if (looksLikeMcpServer(prog)) role = 'server';
    else if (isLaunchWrapper(p.argv)) role = 'wrapper';
    nodes.set(p.pid, { p, prog, role, client, mcpshare: ms });
    if (p.ppid === p.pid) continue;
    const siblings = children.get(p.ppid);
    if (siblings) siblings.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }

  const subtree = (pid: number): number[] => {
    const out: number[] = [];
    const seen = new Set<number>();
    const stack = [pid];
    while (stack.length) {
      const q = stack.pop()!;
      if (seen.has(q) || !nodes.has(q)) continue;
      seen.add(q);
      out.push(q);
      stack.push(...(children.get(q) ?? []));
    }
    return out;
  };
  const rss = (pids: number[]) => pids.reduce((s, q) => s + (nodes.get(q)?.p.rssBytes ?? 0), 0);

  // 1. What mcpshare already shares: its bridges and demos, what its supervisor runs, registered daemons.
  const registered = new Map((opts.daemons ?? []).filter((d) => d.pid).map((d) => [d.pid!, d]));
  const shared: SharedDaemon[] = [];
  const claimed = new Set<number>();
  const share = (pid: number, kind: SharedKind, name: string | null, port: number | null, command: string[]) => {
    const pids = subtree(pid);
    for (const q of pids) claimed.add(q);
    const own = nodes.get(pid)!.p.rssBytes;
    const direct = (children.get(pid) ?? []).filter((q) => nodes.has(q)).length;
    shared.push({
      pid,
      kind,
      name,
      port,
      command,
      key: command.length ? normaliseCommand(command) : null,
      ownRssBytes: own,
      serverRssBytes: rss(pids) - own,
      pids,
      children: direct,
    });
  };
  for (const n of nodes.values()) {
    const ms = n.mcpshare;
    if (!ms) continue;
    if (ms.sub === 'bridge') {
      const dash = ms.args.indexOf('--');
      const port = Number(optionValue(ms.args, '--port'));
      // --port 0 lets the OS choose: the command line does not say which port that was.
      share(
        n.p.pid,
        'bridge',
        registered.get(n.p.pid)?.name ?? optionValue(ms.args, '--name') ?? null,
        Number.isInteger(port) && port > 0 ? port : null,
        dash >= 0 ? ms.args.slice(dash + 1) : [],
      );
    } else if (ms.sub === 'demo') {
      const port = Number(optionValue(ms.args, '--port') ?? 8000);
      share(n.p.pid, 'demo', 'mcpshare-demo', Number.isInteger(port) && port > 0 ? port : null, []);
    }
  }
  for (const n of nodes.values()) {
    if (claimed.has(n.p.pid)) continue;
    const parent = nodes.get(n.p.ppid);
    const reg = registered.get(n.p.pid);
    if (reg || (parent?.mcpshare?.sub === 'supervise' && !n.mcpshare)) share(n.p.pid, 'native', reg?.name ?? null, null, n.p.argv);
  }

  // 2. Server copies: the top of each launch chain (servers and `sh -c`/env wrappers) not already shared.
  const inLaunch = (n: Node | undefined) => !!n && (n.role === 'server' || n.role === 'wrapper') && !claimed.has(n.p.pid);
  const instances: Instance[] = [];
  for (const n of nodes.values()) {
    if (n.role !== 'server' || claimed.has(n.p.pid)) continue;
    // Only the outermost server of a chain starts an instance; a `sh -c`/env wrapper above it is
    // part of its launch (and of its cost).
    let top = n;
    let serverAbove = false;
    const seen = new Set<number>([n.p.pid]);
    for (let up = nodes.get(n.p.ppid); up && inLaunch(up) && !seen.has(up.p.pid) && !serverAbove; up = nodes.get(up.p.ppid)) {
      // A wrapper that started other things too (`sh -c "a & b & wait"`, a script) is not this
      // server's launch: it is the session that runs them, and its other children are not this copy's cost.
      if (up.role === 'wrapper' && (children.get(up.p.pid) ?? []).some((c) => c !== top.p.pid)) break;
      seen.add(up.p.pid);
      top = up;
      serverAbove = up.role === 'server';
    }
    if (serverAbove) continue; // counted from the outer server
    const pids = subtree(top.p.pid);
    instances.push({
      pid: top.p.pid,
      serverPid: n.p.pid,
      argv: n.p.argv,
      key: normaliseCommand(n.p.argv),
      server: targetName(n.prog!),
      pids,
      rssBytes: rss(pids),
      session: sessionOf(top.p.ppid, nodes),
      ...(n.p.cwd ? { cwd: n.p.cwd } : {}),
    });
  }
  // A server started somewhere inside another server's tree (through a helper that is neither a
  // server nor a wrapper) is part of that launch's cost already: count it once, in the outer one.
  const tops = new Set(instances.map((i) => i.pid));
  const nested = (i: Instance) => {
    const seen = new Set<number>();
    for (let up = nodes.get(nodes.get(i.pid)!.p.ppid); up && !seen.has(up.p.pid); up = nodes.get(up.p.ppid)) {
      if (tops.has(up.p.pid)) return true;
      seen.add(up.p.pid);
    }
    return false;
  };
  const outer = instances.filter((i) => !nested(i));
  outer.sort((a, b) => a.pid - b.pid);
  shared.sort((a, b) => a.pid - b.pid);
  return { instances: outer, shared };
}

function sessionOf(ppid: number, nodes: Map<number, Node>): SessionRef | null {
  if (ppid <= 1) return null;
  const parent = nodes.get(ppid);
  if (!parent) return { pid: ppid, name: '?', client: null };
  if (SERVICE_MANAGERS.has(parent.p.name) || (parent.p.argv[0] && SERVICE_MANAGERS.has(basename(parent.p.argv[0])))) return null;
  return { pid: ppid, name: parent.p.name || '?', client: parent.client };
}
