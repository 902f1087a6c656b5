/**
 * A scripted stand-in for the Messages API, so the real Claude Code CLI (`claude -p`) runs offline
 * and calls MCP tools on cue (TESTING.md, "Claude Code calling tools, offline"). A conversation's
 * request gets step i of the script, i being the number of tool calls (other than WaitForMcpServers)
 * already in its messages (past the end, the last step repeats): the position comes from the
 * request, not from a counter, so several `claude -p` runs can share one model. A step asks
 * for a tool call, answers a text, or quotes the request's tool results ("RESULT: Echo: hi", so
 * the CLI prints what the tool returned). Answers are streamed as Claude Code expects (message_start,
 * one content block, message_delta with the stop reason, message_stop), or one JSON message for a
 * request with `stream: false`. A step can run code first (e.g. restart a daemon) and see the
 * request. While the step's tool is not offered yet (its MCP server still connecting), the model
 * calls WaitForMcpServers (up to 6 times per conversation). Requests that are not part of the
 * conversation (Claude Code's side calls, which send no tools) get a short text; count_tokens gets
 * a count.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Step =
  | { tool: string; input: Record<string, unknown> }
  | { text: string }
  /** A text: `quote` followed by the request's tool results (toolResults), joined by newlines. */
  | { quote: string };

export interface ScriptedModel {
  url: string;
  /** Every conversation request that got a step, in order of arrival, with the step's index. */
  requests: Array<{ body: any; step: number; at: number }>;
  close(): Promise<void>;
}

interface Options {
  /** Called before step i is answered, with the request that asked for it. */
  before?: (i: number, body: any) => Promise<void> | void;
}

const WAIT = 'WaitForMcpServers';
const MAX_WAITS = 6;

type Answer = { tool: string; input: Record<string, unknown> } | { text: string };

function answer(res: ServerResponse, body: any, step: Answer, n: number): void {
  const model = typeof body.model === 'string' ? body.model : 'claude-scripted';
  const block = 'tool' in step ? { type: 'tool_use', id: `toolu_scripted_${n}`, name: step.tool, input: step.input } : { type: 'text', text: step.text };
  const stop = 'tool' in step ? 'tool_use' : 'end_turn';
  const message = { id: `msg_scripted_${n}`, type: 'message', role: 'assistant', model, stop_sequence: null };
  if (body.stream === false) {
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ ...message, content: [block], stop_reason: stop, usage: { input_tokens: 10, output_tokens: 5 } }));
    return;
  }
  const events: Array<[string, unknown]> = [
    ['message_start', { type: 'message_start', message: { ...message, content: [], stop_reason: null, usage: { input_tokens: 10, output_tokens: 1 } } }],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: 'tool' in step ? { ...block, input: {} } : { type: 'text', text: '' } }],
    [
      'content_block_delta',
      {
        type: 'content_block_delta',
        index: 0,
        delta: 'tool' in step ? { type: 'input_json_delta', partial_json: JSON.stringify(step.input) } : { type: 'text_delta', text: step.text },
      },
    ],
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: 5 } }],
    ['message_stop', { type: 'message_stop' }],
  ];
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const [event, data] of events) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  res.end();
}

/** The names of the tools the assistant called so far in a request's conversation, in order. */
function calledTools(body: any): string[] {
  const messages: any[] = Array.isArray(body?.messages) ? body.messages : [];
  return messages
    .filter((m) => m?.role === 'assistant' && Array.isArray(m.content))
    .flatMap((m) => m.content.filter((b: any) => b?.type === 'tool_use').map((b: any) => String(b.name)));
}

export async function startScriptedModel(script: Step[], opts: Options = {}): Promise<ScriptedModel> {
  const requests: ScriptedModel['requests'] = [];
  let served = 0;
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
        const n = served++;
        // The conversation carries the tools; Claude Code's side requests (titles, summaries) do not.
        const tools: string[] = Array.isArray(body.tools) ? body.tools.map((t: { name?: string }) => t.name ?? '') : [];
        if (tools.length === 0) {
          answer(res, body, { text: 'ok' }, n);
          return;
        }
        const called = calledTools(body);
        const waits = called.filter((t) => t === WAIT).length;
        const i = called.length - waits;
        const step = script[Math.min(i, script.length - 1)] ?? { text: 'done' };
        // The MCP tools are not offered yet (their server is still connecting): wait for them.
        if ('tool' in step && !tools.includes(step.tool)) {
          if (tools.includes(WAIT) && waits < MAX_WAITS) answer(res, body, { tool: WAIT, input: {} }, n);
          else answer(res, body, { text: `the tool ${step.tool} is not offered (tools: ${tools.join(', ')})` }, n);
          return;
        }
        requests.push({ body, step: i, at: Date.now() });
        await opts.before?.(i, body);
        answer(res, body, 'quote' in step ? { text: step.quote + toolResults(body).join('\n') } : step, n);
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
