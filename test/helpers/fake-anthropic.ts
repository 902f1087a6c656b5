/**
 * A scripted model for driving the real Claude Code CLI offline: a loopback Messages API that asks
 * for one MCP tool call, then answers with the tool's result as its final text. `claude -p` talks to
 * it through ANTHROPIC_BASE_URL (see shared/TESTING.md, "Claude Code calling tools, offline").
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeModel {
  url: string;
  /** Every request body the CLI sent, in order. */
  requests: Array<Record<string, any>>;
  close(): Promise<void>;
}

type Block = Record<string, any>;

function sse(events: Array<[string, Record<string, any>]>): string {
  return events.map(([event, data]) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`).join('');
}

function message(blocks: Block[], stopReason: string): string {
  const events: Array<[string, Record<string, any>]> = [
    [
      'message_start',
      {
        type: 'message_start',
        message: {
          id: `msg_${Date.now()}`,
          type: 'message',
          role: 'assistant',
          model: 'scripted',
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: 1, output_tokens: 1 },
        },
      },
    ],
  ];
  blocks.forEach((b, index) => {
    if (b.type === 'tool_use') {
      events.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } }]);
      events.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(b.input) } }]);
    } else {
      events.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }]);
      events.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: b.text } }]);
    }
    events.push(['content_block_stop', { type: 'content_block_stop', index }]);
  });
  events.push(['message_delta', { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: 1 } }]);
  events.push(['message_stop', { type: 'message_stop' }]);
  return sse(events);
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let s = '';
    req.on('data', (c) => (s += c));
    req.on('end', () => resolve(s));
  });

/** The text of each tool_result in the conversation, by the id of the tool_use it answers. */
function toolResults(body: Record<string, any>): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of body.messages ?? []) {
    if (!Array.isArray(m.content)) continue;
    for (const b of m.content) {
      if (b.type !== 'tool_result') continue;
      const c = b.content;
      out.set(String(b.tool_use_id), typeof c === 'string' ? c : Array.isArray(c) ? c.map((x: Block) => x.text ?? '').join('') : '');
    }
  }
  return out;
}

/**
 * Starts the scripted model. When the request offers `tool` and no tool result is in the
 * conversation yet, it calls `tool` with `input` (after WaitForMcpServers while the MCP tool is still
 * pending); otherwise it answers "RESULT: <last tool result>".
 */
export async function startFakeModel(tool: string, input: Record<string, unknown>): Promise<FakeModel> {
  const requests: Array<Record<string, any>> = [];
  let calls = 0;
  const server: Server = createServer(async (req, res) => {
    const raw = await readBody(req);
    if (req.method !== 'POST' || !req.url?.startsWith('/v1/messages')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"type":"error","error":{"type":"not_found_error","message":"scripted model"}}');
      return;
    }
    const body = JSON.parse(raw || '{}');
    requests.push(body);
    const tools: string[] = (body.tools ?? []).map((t: Block) => t.name);
    const results = toolResults(body);
    const mine = [...results].find(([id]) => id.startsWith('toolu_mcp_'));
    const waits = [...results.keys()].filter((id) => id.startsWith('toolu_wait_')).length;
    let blocks: Block[];
    let stop = 'end_turn';
    if (mine) {
      blocks = [{ type: 'text', text: `RESULT: ${mine[1]}` }];
    } else if (tools.includes(tool)) {
      blocks = [{ type: 'tool_use', id: `toolu_mcp_${++calls}`, name: tool, input }];
      stop = 'tool_use';
    } else if (tools.includes('WaitForMcpServers') && waits < 3) {
      blocks = [{ type: 'tool_use', id: `toolu_wait_${waits}`, name: 'WaitForMcpServers', input: {} }];
      stop = 'tool_use';
    } else {
      blocks = [{ type: 'text', text: tools.length ? `NO TOOL ${tool} among ${tools.length} tools` : 'scripted' }];
    }
    if (body.stream === false) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          id: 'msg_x',
          type: 'message',
          role: 'assistant',
          model: 'scripted',
          content: [{ type: 'text', text: 'scripted' }],
          stop_reason: 'end_turn',
          stop_sequence: null,
          usage: { input_tokens: 1, output_tokens: 1 },
        }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.end(message(blocks, stop));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
