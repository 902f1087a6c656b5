import type { ClientTransport, ServerEntry } from '../../registry/registry.js';
import type { ProbeOptions } from '../../health/types.js';
import type { ApplyOutcome, ProbeFn } from '../apply.js';
import type { ConfigTarget } from '../claude-config.js';
import type { RevertEntryOutcome } from '../revert.js';

/**
 * The one face every MCP client module has (src/clients/targets/<name>.ts): where its configs are,
 * whether it is installed, what MCP servers its configs hold (stdio and remote, in one shape), and
 * how to switch chosen entries to mcpshare's daemons and back. The CLI (`clients`, `import
 * --client`, `apply --client`, `revert --client`), the tray's "Connect a client" menu and the
 * end-to-end tests use nothing else.
 */
export const CLIENT_NAMES = ['claude-code', 'claude-desktop', 'cursor', 'vscode', 'windsurf', 'zed', 'codex', 'gemini', 'qwen', 'opencode', 'copilot'] as const;
export type ClientName = (typeof CLIENT_NAMES)[number];

/** Where a client looks: the user's HOME and environment, and the OS (paths differ on macOS). */
export interface ClientContext {
  home: string;
  env: NodeJS.ProcessEnv;
  platform: NodeJS.Platform;
}

export type ConfigFormat = 'json' | 'jsonc' | 'toml';

/** One config file of a client (and, in ~/.claude.json, one part of it). */
export interface ClientConfig {
  client: ClientName;
  /** user: the user's own file; project: a project's; local: Claude Code's per-project part of ~/.claude.json. */
  scope: 'user' | 'project' | 'local';
  file: string;
  format: ConfigFormat;
  /** Keys from the root to the object of servers (`["mcpServers"]`, `["mcp_servers"]`, `["context_servers"]`…). */
  section: string[];
  /** The project directory (project and local scope). */
  dir?: string;
  /** The HOME it belongs to (for `${userHome}` in entries). */
  home?: string;
  /** Claude Code only: the target its own apply/revert/import take. */
  target?: ConfigTarget;
}

/** An MCP server entry of any client, in one shape. */
export type CommonEntry =
  | { kind: 'stdio'; command: string; args: string[]; env: Record<string, string>; cwd?: string }
  /** `transport` 'auto': the client works it out itself (Cursor, Windsurf, Zed, opencode). */
  | { kind: 'remote'; url: string; transport: ClientTransport | 'auto' }
  /** Claude Desktop's `mcpshare connect NAME` entry: a stdio relay to the daemon NAME. */
  | { kind: 'connect'; server: string }
  | { kind: 'other'; reason: string };

export interface ClientEntry {
  name: string;
  entry: CommonEntry;
  /** The value as it is in the file. */
  raw: unknown;
}

export interface ClientDetection {
  client: ClientName;
  label: string;
  /** A config file or the client's own directory exists, or its binary is on PATH. */
  installed: boolean;
  /** Its command on PATH, when it has one. */
  binary?: string;
  /** What was found (for people): "~/.cursor", "cursor on PATH". */
  evidence: string[];
}

export interface SwitchOptions {
  registry: readonly ServerEntry[];
  /** Only these entries (or, with `add`, registered servers to add). */
  names?: readonly string[];
  dryRun?: boolean;
  /** Also add the registered servers that have no entry, pointing at their daemons (when up). */
  add?: boolean;
  /** The daemon handshake (the real probe by default). */
  probe?: ProbeFn;
  probeOptions?: ProbeOptions;
  /** The state directory's backups root (`userPaths(env).stateDir`). */
  stateDir: string;
  env?: NodeJS.ProcessEnv;
}

export type ClientApplyOutcome = ApplyOutcome & {
  /** The registered server it was matched with, when its name differs from the entry's. */
  daemon?: string;
};

export interface ClientApplyReport {
  client: ClientName;
  file: string;
  scope: ClientConfig['scope'];
  exists: boolean;
  dryRun: boolean;
  outcomes: ClientApplyOutcome[];
  wrote: boolean;
  created?: boolean;
  backup?: string;
  record?: string;
  note?: string;
  ok: boolean;
}

export interface ClientRevertReport {
  client: ClientName;
  file: string;
  scope?: ClientConfig['scope'];
  /**
   * exact: the file was as apply left it, so the copy taken before the apply is back byte for byte
   * (or the file apply created is deleted); reverted: it changed since, so entry by entry; corrupt:
   * it does not parse, nothing was touched; nothing: no apply to undo; missing-file; error.
   */
  result: 'exact' | 'reverted' | 'restored-backup' | 'corrupt' | 'nothing' | 'missing-file' | 'error';
  outcomes: RevertEntryOutcome[];
  applies?: number;
  backup?: string;
  deletedFile?: boolean;
  savedBefore?: string;
  position?: { line: number; column: number };
  restoreCommand?: string;
  wrote: boolean;
  message: string;
  ok: boolean;
}

export interface McpClient {
  readonly name: ClientName;
  /** What people call it: "Cursor", "VS Code", "Codex CLI". */
  readonly label: string;
  detect(ctx: ClientContext): ClientDetection;
  /**
   * Its config files: the user's (`project` absent), or those of the project in `project`. Files
   * that do not exist are listed too (apply --add creates the first one), marked by `exists()`.
   */
  configs(ctx: ClientContext, project?: string): ClientConfig[];
  /** The entries of one config ([] when the file or its servers object is absent); a file that does not parse throws a ConfigError with line and column. */
  read(config: ClientConfig): ClientEntry[];
  /** Switches the entries of registered servers whose daemons pass the handshake (and with `add` adds the missing ones). */
  apply(config: ClientConfig, o: SwitchOptions): Promise<ClientApplyReport>;
  /** Undoes the newest apply of that config (`all`: every apply on record, newest first). */
  revert(config: ClientConfig, o: { stateDir: string; dryRun?: boolean; all?: boolean }): Promise<ClientRevertReport>;
}
