/**
 * The contract between the conformance fixture (test/fixtures/conformance-server.mjs) and the bridge,
 * checked against the fixture alone with a real SDK v1 client over stdio. The 2026 conformance run
 * depends on this contract, and a failure here is easier to read than one in the suite:
 * - the child names each input_required key in params._meta["mcpshare/inputKey"];
 * - the child lets -32021 (MissingRequiredClientCapability) out as a JSON-RPC error, where McpServer
 *   alone would turn it into an isError result;
 * - the capability-check tool carries on when one of its requests is refused with -32021;
 * - the trigger tools send list_changed.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  McpError,
  PromptListChangedNotificationSchema,
  ToolListChangedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { join } from 'node:path';
import { ROOT } from './helpers/bridge.js';
import { waitFor } from './helpers/wait.js';

const FIXTURE = join(ROOT, 'test/fixtures/conformance-server.mjs');
const MISSING_CAPABILITY = -32021;
const INPUT_KEY = 'mcpshare/inputKey';

// Every tool the scored scenarios of both requirement sets call (see /work/notes/conformance-2026.md).
const TOOLS = [
  'test_simple_text',
  'test_image_content',
  'test_audio_content',
  'test_embedded_resource',
  'test_multiple_content_types',
  'test_error_handling',
  'test_tool_with_progress',
  'test_tool_with_logging',
  'test_sampling',
  'test_elicitation',
  'test_elicitation_sep1034_defaults',
  'test_elicitation_sep1330_enums',
  'test_missing_capability',
  'test_streaming_elicitation',
  'test_logging_tool',
  'test_trigger_tool_change',
  'test_trigger_prompt_change',
  'test_input_required_result_elicitation',
  'test_input_required_result_sampling',
  'test_input_required_result_list_roots',
  'test_input_required_result_request_state',
  'test_input_required_result_multiple_inputs',
  'test_input_required_result_multi_round',
  'test_input_required_result_tampered_state',
  'test_input_required_result_capabilities',
];

type Asked = { method: string; key: unknown };

let client: Client;
let asked: Asked[];

beforeEach(async () => {
  asked = [];
  client = new Client(
    { name: 'fixture-contract', version: '1.0.0' },
    { capabilities: { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } } },
  );
  const key = (params: { _meta?: Record<string, unknown> } | undefined) => params?._meta?.[INPUT_KEY];
  client.setRequestHandler(ElicitRequestSchema, async (r) => {
    asked.push({ method: r.method, key: key(r.params) });
    return { action: 'accept', content: { name: 'Alice', ok: true, color: 'blue', context: 'c' } };
  });
  client.setRequestHandler(CreateMessageRequestSchema, async (r) => {
    asked.push({ method: r.method, key: key(r.params) });
    return { role: 'assistant', content: { type: 'text', text: 'Paris' }, model: 'test-model' };
  });
  client.setRequestHandler(ListRootsRequestSchema, async (r) => {
    asked.push({ method: r.method, key: key(r.params) });
    return { roots: [{ uri: 'file:///test/root', name: 'Test Root' }] };
  });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [FIXTURE], stderr: 'pipe' }));
});

afterEach(async () => {
  await client.close();
});

describe('conformance fixture', () => {
  test('lists every tool the scenarios call', async () => {
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(TOOLS));
  });

  test('names the input_required keys the 2026 scenarios expect', async () => {
    await client.callTool({ name: 'test_input_required_result_elicitation', arguments: {} });
    await client.callTool({ name: 'test_input_required_result_sampling', arguments: {} });
    await client.callTool({ name: 'test_input_required_result_list_roots', arguments: {} });
    await client.getPrompt({ name: 'test_input_required_result_prompt' });
    expect(asked).toEqual([
      { method: 'elicitation/create', key: 'user_name' },
      { method: 'sampling/createMessage', key: 'capital_question' },
      { method: 'roots/list', key: 'client_roots' },
      { method: 'elicitation/create', key: 'user_context' },
    ]);
  });

  test('asks for all three inputs at once, and for a second round after the first', async () => {
    // Hold the first answer back until all three requests have arrived: that shows they are concurrent.
    const held: Array<() => void> = [];
    client.setRequestHandler(ElicitRequestSchema, async (r) => {
      asked.push({ method: r.method, key: r.params._meta?.[INPUT_KEY] });
      await new Promise<void>((resolve) => held.push(resolve));
      return { action: 'accept', content: { name: 'Alice', color: 'blue' } };
    });
    const call = client.callTool({ name: 'test_input_required_result_multiple_inputs', arguments: {} });
    await waitFor(() => asked.length === 3, 'three concurrent input requests');
    held.splice(0).forEach((release) => release());
    await call;
    expect(asked.map((a) => a.key).sort()).toEqual(['client_roots', 'greeting', 'user_name']);

    asked = [];
    const rounds = client.callTool({ name: 'test_input_required_result_multi_round', arguments: {} });
    await waitFor(() => asked.length === 1, 'the first round');
    expect(asked.map((a) => a.key)).toEqual(['step1']);
    held.splice(0).forEach((release) => release());
    await waitFor(() => asked.length === 2, 'the second round');
    held.splice(0).forEach((release) => release());
    expect(await rounds).toMatchObject({ content: [{ type: 'text', text: 'Alice likes blue' }] });
    expect(asked.map((a) => a.key)).toEqual(['step1', 'step2']);
  });

  test('lets -32021 out of test_missing_capability as a JSON-RPC error, with its data', async () => {
    client.setRequestHandler(CreateMessageRequestSchema, async () => {
      throw new McpError(MISSING_CAPABILITY, 'Missing required client capability', { requiredCapabilities: { sampling: {} } });
    });
    const err = await client.callTool({ name: 'test_missing_capability', arguments: {} }).then(
      (result) => result,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(McpError);
    expect(err).toMatchObject({ code: MISSING_CAPABILITY, data: { requiredCapabilities: { sampling: {} } } });
  });

  test('test_input_required_result_capabilities carries on with sampling when elicitation is refused', async () => {
    client.setRequestHandler(ElicitRequestSchema, async () => {
      throw new McpError(MISSING_CAPABILITY, 'Missing required client capability', { requiredCapabilities: { elicitation: {} } });
    });
    const result = await client.callTool({ name: 'test_input_required_result_capabilities', arguments: {} });
    expect(result.isError).toBeFalsy();
    expect(result).toMatchObject({ content: [{ type: 'text', text: expect.stringContaining('elicitation: not declared') }] });
    expect(asked).toEqual([{ method: 'sampling/createMessage', key: 'capital_question' }]);
  });

  test('other tool errors stay isError results, as McpServer makes them', async () => {
    const result = await client.callTool({ name: 'test_error_handling', arguments: {} });
    expect(result).toMatchObject({ isError: true, content: [{ type: 'text', text: 'This tool intentionally returns an error for testing' }] });
  });

  test('the trigger tools change the lists and say so', async () => {
    let tools = 0;
    let prompts = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void tools++);
    client.setNotificationHandler(PromptListChangedNotificationSchema, () => void prompts++);
    const before = (await client.listTools()).tools.length;
    await client.callTool({ name: 'test_trigger_tool_change', arguments: {} });
    await waitFor(() => tools === 1, 'tools/list_changed');
    expect((await client.listTools()).tools).toHaveLength(before + 1);
    await client.callTool({ name: 'test_trigger_tool_change', arguments: {} });
    await waitFor(() => tools === 2, 'the second tools/list_changed');
    expect((await client.listTools()).tools).toHaveLength(before);
    await client.callTool({ name: 'test_trigger_prompt_change', arguments: {} });
    await waitFor(() => prompts === 1, 'prompts/list_changed');
    expect((await client.listPrompts()).prompts.map((p) => p.name)).toContain('test_dynamic_prompt');
  });
});
