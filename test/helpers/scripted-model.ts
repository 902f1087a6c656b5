/**
 * A scripted stand-in for the Messages API, so the real Claude Code CLI (`claude -p`) runs offline
 * and calls MCP tools on cue (TESTING.md, "Claude Code calling tools, offline"). Each POST
 * /v1/messages gets the next step of the script, streamed as Claude Code expects (message_start,
 * one content block, message_delta with the stop reason, message_stop). A step can run code first
 * (e.g. restart a daemon) and see the request (e.g. the tool_result it carries). Requests that are
 * not part of the conversation (Claude Code's side calls, which send no tools) get a short text.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Step = { tool: string; input: Record<string, unknown> } | { text: string };

export interface ScriptedModel {
  url: string;
  /** Every conversation request, in order, as received. */
  requests: Array<{ body: any; at: number }>;
  close(): Promise<void>;
}

interface Options {
  /** Called before step i is answered, with the request that asked for it. */
  before?: (i: number, body: any) => Promise<void> | void;
}

function sse(res: ServerResponse, events: Array<[string, unknown]>): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const [event, data] of events) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  res.end();
}

function answer(res: ServerResponse, model: string, step: Step, n: number): void {
  const id = `msg_scripted_${n}`;
  const start: Array<[string, unknown]> = [
    [
      'message_start',
      {
        type: 'message_start',
        message: {
          id,
          type: 'message',
          role: 'assistant',
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: 10, output_tokens: 1 },
        },
      },
    ],
  ];
  const end = (stop: string): Array<[string, unknown]> => [
    ['message_delta', { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 5 } }],
    ['message_stop', { type: 'message_stop' }],
  ];
  if ('tool' in step) {
    sse(res, [
      ...start,
      [
        'content_block_start',
        { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: `toolu_scripted_${n}`, name: step.tool, input: {} } },
      ],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: JSON.stringify(step.input) } }],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      ...end('tool_use'),
    ]);
  } else {
    sse(res, [
      ...start,
      ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
      ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: step.text } }],
      ['content_block_stop', { type: 'content_block_stop', index: 0 }],
      ...end('end_turn'),
    ]);
  }
}

export async function startScriptedModel(script: Step[], opts: Options = {}): Promise<ScriptedModel> {
  const requests: ScriptedModel['requests'] = [];
  const waits: string[][] = [];
  let side = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      void (async () => {
        if (!req.url?.startsWith('/v1/messages') || req.method !== 'POST') {
          res
            .writeHead(404, { 'content-type': 'application/json' })
            .end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'not scripted' } }));
          return;
        }
        if (req.url.startsWith('/v1/messages/count_tokens')) {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ input_tokens: 10 }));
          return;
        }
        let body: any = {};
        try {
          body = JSON.parse(raw);
        } catch {
          // an unparsable request gets the side answer
        }
        const model = typeof body.model === 'string' ? body.model : 'claude-scripted';
        // The conversation carries the tools; Claude Code's side requests (titles, summaries) do not.
        const tools: string[] = Array.isArray(body.tools) ? body.tools.map((t: { name?: string }) => t.name ?? '') : [];
        if (tools.length === 0) {
          answer(res, model, { text: 'ok' }, 1000 + side++);
          return;
        }
        const next = script[Math.min(requests.length, script.length - 1)];
        // The MCP tools are not offered yet (their server is still connecting): wait for them.
        if (next && 'tool' in next && !tools.includes(next.tool)) {
          waits.push(tools.filter((t) => t.startsWith('mcp__')));
          if (tools.includes('WaitForMcpServers') && waits.length < 5) answer(res, model, { tool: 'WaitForMcpServers', input: {} }, 2000 + waits.length);
          else answer(res, model, { text: `the tool ${next.tool} is not offered (tools: ${tools.join(', ')})` }, 3000);
          return;
        }
        const i = requests.length;
        requests.push({ body, at: Date.now() });
        await opts.before?.(i, body);
        answer(res, model, script[Math.min(i, script.length - 1)] ?? { text: 'done' }, i);
      })().catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'api_error', message: err.message } }));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The text of the tool_result blocks in a request's last user message. */
export function toolResults(body: any): string[] {
  const last = Array.isArray(body?.messages) ? body.messages[body.messages.length - 1] : undefined;
  const blocks = Array.isArray(last?.content) ? last.content : [];
  return blocks
    .filter((b: any) => b?.type === 'tool_result')
    .map((b: any) => (typeof b.content === 'string' ? b.content : Array.isArray(b.content) ? b.content.map((c: any) => c.text ?? '').join('') : ''));
}
