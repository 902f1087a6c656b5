/**
 * The real client (issue 16): Claude Code 2.1.330's `claude -p`, run from two project directories
 * at once, calls server-filesystem through ONE project-mode bridge. Claude Code first probes the
 * 2026-07-28 era; a project-mode bridge offers it sessions only, so it opens a 2025 session whose
 * roots (its launch directory) the bridge asks for. Each run sees only its own project.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bridgeArgs, ROOT, runCli, type RunningCli } from './helpers/bridge.js';
import { startScriptedModel, type ScriptedModel } from './helpers/scripted-model.js';

const CLAUDE = join(ROOT, 'node_modules/.bin/claude');
const FILESYSTEM = join(ROOT, 'node_modules/@modelcontextprotocol/server-filesystem/dist/index.js');
const TOOL = 'mcp__files__list_allowed_directories';

let tmp: string;
let home: string;
let b: RunningCli;
let api: ScriptedModel;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'mcpshare-share-claude-'));
  home = join(tmp, 'home');
  mkdirSync(join(home, '.claude'), { recursive: true });
  // Project-scope servers wait for the user's approval; this setting gives it.
  writeFileSync(join(home, '.claude', 'settings.json'), '{"enableAllProjectMcpServers": true}\n');
  // Both runs share it: each gets one call of the tool, then a text quoting its result (so the CLI prints it).
  api = await startScriptedModel([{ tool: TOOL, input: {} }, { quote: 'RESULT: ' }]);
  b = await runCli(bridgeArgs([process.execPath, FILESYSTEM], ['--name', 'files', '--share', 'project']));
});
afterAll(async () => {
  await b?.stop();
  await api?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function claudeIn(dir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      CLAUDE,
      ['-p', 'Which directories may you read?', '--allowedTools', TOOL],
      {
        cwd: dir,
        timeout: 90_000,
        env: {
          ...process.env,
          HOME: home,
          CI: 'true',
          ANTHROPIC_BASE_URL: api.url,
          ANTHROPIC_API_KEY: 'sk-test-not-a-key',
          ENABLE_TOOL_SEARCH: 'false',
          DISABLE_AUTOUPDATER: '1',
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
          MCP_TIMEOUT: '10000',
        },
      },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin?.end();
  });
}

test('claude -p from two project directories through one daemon: each lists only its own directory', async () => {
  const dirs = ['east', 'west'].map((name) => {
    const dir = join(tmp, name);
    mkdirSync(dir);
    writeFileSync(join(dir, '.mcp.json'), JSON.stringify({ mcpServers: { files: { type: 'http', url: `${b.url}/mcp` } } }));
    return dir;
  });
  const [east, west] = await Promise.all(dirs.map(claudeIn));
  expect(east.code).toBe(0);
  expect(west.code).toBe(0);
  // The model quotes the tool result, which Claude Code sends as the tool's structuredContent in JSON
  // ({"content":"Allowed directories:\\n<dir>"}): the escaped newline is part of the text.
  expect(east.stdout).toContain(`Allowed directories:\\n${dirs[0]}`);
  expect(east.stdout).not.toContain(dirs[1]);
  expect(west.stdout).toContain(`Allowed directories:\\n${dirs[1]}`);
  expect(west.stdout).not.toContain(dirs[0]);
  const status = (await b.status()) as Awaited<ReturnType<RunningCli['status']>> & { children: Array<{ scope: string; roots: string[] }> };
  expect(status.children.map((c) => c.scope)).toEqual(['project', 'project']);
  expect(b.stderr()).toMatch(/streamable-http session \w+ \(claude-code 2\.1\.\d+\) roots: /);
});
