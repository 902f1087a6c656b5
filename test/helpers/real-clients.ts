/**
 * The real client CLIs (devDependencies), each asked through its own connection check whether it
 * reaches its configured MCP servers, offline, in a temporary HOME:
 *   gemini    `gemini mcp list`                          (a project's folder must be trusted)
 *   qwen      `qwen mcp approve --all`, `qwen mcp list`  (project servers wait for approval)
 *   opencode  `opencode mcp list`                        (exits 0 even when a server failed: its text is read)
 *   codex     `codex app-server`, JSON-RPC `mcpServerStatus/list`
 *   copilot   `copilot -p` with COPILOT_OFFLINE=true and its own-key provider pointed at a loopback
 *             fake chat-completions API: a server is connected when its tools are in the model request
 * Every run gets HOME, the XDG directories and TMPDIR inside the temporary HOME, and nothing else
 * of this machine's configuration.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { ROOT } from './bridge.js';

export type RealClient = 'gemini' | 'qwen' | 'opencode' | 'codex' | 'copilot';

/** The versions issue 14 verified; scripts/install-real-clients.sh installs the same into .tools/. */
export const REAL_CLIENTS: Record<RealClient, { pkg: string; version: string; bin: string }> = {
  gemini: { pkg: '@google/gemini-cli', version: '0.61.0', bin: 'gemini' },
  qwen: { pkg: '@qwen-code/qwen-code', version: '0.24.4', bin: 'qwen' },
  opencode: { pkg: 'opencode-ai', version: '1.18.33', bin: 'opencode' },
  codex: { pkg: '@openai/codex', version: '0.169.0', bin: 'codex' },
  copilot: { pkg: '@github/copilot', version: '1.0.102', bin: 'copilot' },
};
export const CLIENT_NAMES = Object.keys(REAL_CLIENTS) as RealClient[];

export const binOf = (client: RealClient) => join(ROOT, '.tools', 'node_modules', '.bin', REAL_CLIENTS[client].bin);

/** One line naming every client whose binary is missing and how to install it; undefined when none is. */
export function missingClients(clients: RealClient[] = CLIENT_NAMES): string | undefined {
  const missing = clients.filter((c) => !existsSync(binOf(c)));
  if (!missing.length) return undefined;
  const pkgs = missing.map((c) => `${REAL_CLIENTS[c].pkg}@${REAL_CLIENTS[c].version}`);
  return `missing client CLI${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (${pkgs.join(' ')}): run scripts/install-real-clients.sh`;
}

export interface ServerStatus {
  connected: boolean;
  /** What the client said about this server (its line, its status object, or why it is absent). */
  text: string;
}
export type CheckResult = Record<string, ServerStatus>;

export interface CheckOptions {
  /** The temporary HOME the client's user config lives in. */
  home: string;
  /** The project directory the client runs in (its project config, if any). */
  cwd: string;
  /** The server names to report on. */
  servers: string[];
  timeoutMs?: number;
}

/** The environment every client runs with: everything it reads or writes stays inside `home`. */
export function clientEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  const tmp = join(home, '.tmp');
  mkdirSync(tmp, { recursive: true });
  return {
    HOME: home,
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    TERM: 'dumb',
    NO_COLOR: '1',
    TMPDIR: tmp,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_CACHE_HOME: join(home, '.cache'),
    XDG_STATE_HOME: join(home, '.local', 'state'),
    ...extra,
  };
}

/**
 * What a client needs outside its MCP config before it will use a project's servers, done once
 * (and before any snapshot of config files: these are not files mcpshare changes):
 * gemini's trusted folder. qwen's approval is bound to the config it saw, so it is given per check.
 */
export function prepareClient(client: RealClient, home: string, cwd: string): void {
  if (client !== 'gemini') return;
  const file = join(home, '.gemini', 'trustedFolders.json');
  mkdirSync(join(home, '.gemini'), { recursive: true });
  const trusted = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : {};
  writeFileSync(file, JSON.stringify({ ...trusted, [cwd]: 'TRUST_FOLDER' }, null, 2));
}

export async function checkClient(client: RealClient, opts: CheckOptions): Promise<CheckResult> {
  switch (client) {
    case 'gemini':
      return fromListing(client, (await run(binOf('gemini'), ['mcp', 'list'], opts)).text, opts.servers, parseStatusLines);
    case 'qwen': {
      await run(binOf('qwen'), ['mcp', 'approve', '--all'], opts);
      return fromListing(client, (await run(binOf('qwen'), ['mcp', 'list'], opts)).text, opts.servers, parseStatusLines);
    }
    case 'opencode':
      return fromListing(client, (await run(binOf('opencode'), ['mcp', 'list'], opts)).text, opts.servers, parseOpencode);
    case 'codex':
      return checkCodex(opts);
    case 'copilot':
      return checkCopilot(opts);
  }
}

// ------------------------------------------------------------------ running a CLI

interface RunResult {
  code: number | null;
  /** stdout and stderr, ANSI colours removed. */
  text: string;
}

// eslint-disable-next-line no-control-regex -- terminal colour codes are what this strips
const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/**
 * Runs a client in its own process group; on timeout the whole group (with any server it started)
 * is killed. `converse`, when given, talks to it over stdin (reading its stdout so far); when it is
 * done, stdin is closed and the client gets a few seconds to exit.
 */
function run(
  bin: string,
  args: string[],
  opts: CheckOptions,
  extraEnv: Record<string, string> = {},
  converse?: (write: (s: string) => void, stdout: () => string) => Promise<void>,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, args, { cwd: opts.cwd, env: clientEnv(opts.home, extraEnv), stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let all = '';
    proc.stdout.on('data', (d) => ((stdout += d), (all += d)));
    proc.stderr.on('data', (d) => (all += d));
    proc.stdin.on('error', () => undefined);
    const killGroup = () => {
      try {
        process.kill(-proc.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(killGroup, opts.timeoutMs ?? 90_000);
    proc.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.once('close', (code) => {
      clearTimeout(timer);
      killGroup(); // a stdio server it started and left behind
      resolve({ code, text: all.replace(ANSI, '') });
    });
    if (!converse) return void proc.stdin.end();
    converse(
      (s) => proc.stdin.write(s),
      () => stdout,
    ).then(
      () => {
        proc.stdin.end();
        setTimeout(killGroup, 3000).unref();
      },
      (err: Error) => {
        all += `\n(test: ${err.message})`;
        killGroup();
      },
    );
  });
}

function fromListing(client: RealClient, text: string, servers: string[], parse: (text: string) => Map<string, ServerStatus>): CheckResult {
  const found = parse(text);
  return Object.fromEntries(servers.map((s) => [s, found.get(s) ?? { connected: false, text: `${client} did not list "${s}":\n${text}` }]));
}

/** gemini and qwen: `✓ NAME: URL (http) - Connected` / `✗ NAME: … - Disconnected`. */
function parseStatusLines(text: string): Map<string, ServerStatus> {
  const found = new Map<string, ServerStatus>();
  for (const line of text.split('\n')) {
    const m = /^\s*\S+\s+([^\s:]+): .* - ([A-Za-z ]+)$/.exec(line.trimEnd());
    if (m) found.set(m[1], { connected: m[2] === 'Connected', text: line.trim() });
  }
  return found;
}

/** opencode: `●  ✓ NAME connected` (or failed, disabled, …) then `│` detail lines (the error, the URL). */
function parseOpencode(text: string): Map<string, ServerStatus> {
  const found = new Map<string, ServerStatus>();
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (!line.startsWith('●')) return;
    const m = /^[^\w\s]\s+(\S+)\s+(.+?)\s*$/.exec(line.replace(/^●\s+/, ''));
    if (!m) return;
    const detail = [];
    for (let j = i + 1; j < lines.length && /^│\s+\S/.test(lines[j]); j++) detail.push(lines[j].replace(/^│\s+/, ''));
    found.set(m[1], { connected: m[2] === 'connected', text: [`${m[1]} ${m[2]}`, ...detail].join(' | ') });
  });
  return found;
}

// ------------------------------------------------------------------ codex app-server

interface CodexStatus {
  name: string;
  serverInfo: { name: string; version: string } | null;
  toolsError: string | null;
  tools: Record<string, unknown>;
}

/** `codex app-server` (JSONL, no "jsonrpc" field): initialize, initialized, then mcpServerStatus/list. */
async function checkCodex(opts: CheckOptions): Promise<CheckResult> {
  let statuses: CodexStatus[] | undefined;
  let failure = '';
  const result = await run(binOf('codex'), ['app-server'], opts, {}, async (write, output) => {
    const replies = new Map<number, any>();
    let seen = 0;
    const reply = async (id: number) => {
      const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
      while (Date.now() < deadline) {
        const text = output();
        for (const line of text.slice(seen).split('\n')) {
          if (!line.startsWith('{')) continue;
          try {
            const m = JSON.parse(line);
            if (typeof m.id === 'number') replies.set(m.id, m);
          } catch {
            /* a line still being written */
          }
        }
        seen = Math.max(seen, text.lastIndexOf('\n') + 1);
        if (replies.has(id)) return replies.get(id);
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`codex app-server did not answer request ${id}`);
    };
    write(
      JSON.stringify({ id: 1, method: 'initialize', params: { clientInfo: { name: 'mcpshare-test', title: null, version: '1' }, capabilities: null } }) + '\n',
    );
    await reply(1);
    write(JSON.stringify({ method: 'initialized' }) + '\n');
    write(JSON.stringify({ id: 2, method: 'mcpServerStatus/list', params: {} }) + '\n');
    const list = await reply(2);
    if (list.error) failure = JSON.stringify(list.error);
    statuses = list.result?.data;
  });
  const byName = new Map((statuses ?? []).map((s) => [s.name, s]));
  return Object.fromEntries(
    opts.servers.map((name) => {
      const s = byName.get(name);
      if (!s) return [name, { connected: false, text: `codex did not list "${name}" ${failure}:\n${result.text.slice(-3000)}` }];
      const connected = s.serverInfo !== null && s.toolsError === null;
      const text = connected
        ? `${name}: ${s.serverInfo!.name} ${s.serverInfo!.version}, ${Object.keys(s.tools).length} tools`
        : `${name}: ${s.toolsError ?? 'no server info'}`;
      return [name, { connected, text }];
    }),
  );
}

// ------------------------------------------------------------------ copilot with a fake model API

/**
 * A loopback OpenAI-style chat-completions API that answers every request with "done" and records
 * the tool names each request offered the model. Copilot lists an MCP server's tools as `NAME-tool`
 * only after it completed the MCP handshake with it.
 */
async function fakeModelApi(): Promise<{ url: string; toolsSeen: string[][]; close(): Promise<void> }> {
  const toolsSeen: string[][] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      let request: any;
      try {
        request = JSON.parse(body);
      } catch {
        request = undefined;
      }
      if (Array.isArray(request?.tools)) toolsSeen.push(request.tools.map((t: any) => t.function?.name ?? t.name));
      if (req.url?.includes('/models')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data: [{ id: 'fake-model', object: 'model' }] }));
        return;
      }
      const chunk = (delta: object, finish: string | null) => ({
        id: 'c1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'fake-model',
        choices: [{ index: 0, delta, finish_reason: finish }],
      });
      if (request?.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`data: ${JSON.stringify(chunk({ role: 'assistant', content: 'done' }, null))}\n\n`);
        res.write(`data: ${JSON.stringify(chunk({}, 'stop'))}\n\n`);
        res.end('data: [DONE]\n\n');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          id: 'c1',
          object: 'chat.completion',
          created: 1,
          model: 'fake-model',
          choices: [{ index: 0, message: { role: 'assistant', content: 'done' }, finish_reason: 'stop' }],
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/v1`, toolsSeen, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function checkCopilot(opts: CheckOptions): Promise<CheckResult> {
  const api = await fakeModelApi();
  try {
    const env = {
      COPILOT_OFFLINE: 'true',
      COPILOT_PROVIDER_BASE_URL: api.url,
      COPILOT_PROVIDER_API_KEY: 'fake-key-for-a-loopback-api',
      COPILOT_MODEL: 'fake-model',
      COPILOT_AUTO_UPDATE: 'false',
    };
    // --trust-folder: a workspace .mcp.json is used for this one session only (nothing saved).
    const result = await run(binOf('copilot'), ['-p', 'Say done.', '--allow-all-tools', '--trust-folder', '--disable-client-telemetry'], opts, env);
    const tools = api.toolsSeen.flat();
    return Object.fromEntries(
      opts.servers.map((name) => {
        const mine = [...new Set(tools.filter((t) => t.startsWith(`${name}-`)))];
        if (mine.length) return [name, { connected: true, text: `${name}: ${mine.length} tools offered to the model (${mine.slice(0, 3).join(', ')}, …)` }];
        const why = api.toolsSeen.length ? `the model request offered no "${name}-" tools` : 'copilot sent no model request';
        return [name, { connected: false, text: `${name}: ${why}; copilot said:\n${result.text.slice(-3000)}` }];
      }),
    );
  } finally {
    await api.close();
  }
}
