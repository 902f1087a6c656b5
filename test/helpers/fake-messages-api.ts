/**
 * A loopback stand-in for the Messages API that makes the real `claude -p` call one MCP tool: the
 * first request that offers the tool is answered with a tool_use block for it (before that, while
 * the CLI's MCP connections are pending, with a call of its WaitForMcpServers), the request that
 * carries its tool_result with a text block quoting that result (so the CLI prints it). Anything
 * else gets a short text answer. Streaming SSE, as the CLI asks for (see /work/shared/TESTING.md).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeMessagesApi {
  url: string;
  /** The tool_result contents the CLI sent back, in arrival order. */
  results: unknown[];
  close(): Promise<void>;
}

export async function fakeMessagesApi(tool: string): Promise<FakeMessagesApi> {
  const results: unknown[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      let j: { model?: string; tools?: Array<{ name: string }>; messages?: Array<{ content: unknown }> } = {};
      try {
        j = JSON.parse(body);
      } catch {
        // not JSON: answered like any other request
      }
      if (!req.url?.startsWith('/v1/messages') || req.url.includes('count_tokens')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ input_tokens: 10 }));
        return;
      }
      const last = j.messages?.at(-1)?.content;
      const toolResult = Array.isArray(last)
        ? last.find((c: { type?: string; tool_use_id?: string }) => c.type === 'tool_result' && c.tool_use_id === 'toolu_fake')
        : undefined;
      const offersTool = (j.tools ?? []).some((t) => t.name === tool);
      // MCP servers connect in the background: until they have, the CLI offers WaitForMcpServers.
      const waits = JSON.stringify(j.messages ?? []).split('"toolu_wait_').length - 1;
      const offersWait = (j.tools ?? []).some((t) => t.name === 'WaitForMcpServers') && waits < 6;

      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const ev = (type: string, data: Record<string, unknown>) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
      const text = (t: string) => {
        ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
        ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: t } });
        ev('content_block_stop', { index: 0 });
        ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 1 } });
      };
      ev('message_start', {
        message: {
          id: 'msg_fake',
          type: 'message',
          role: 'assistant',
          model: j.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: 1, output_tokens: 1 },
        },
      });
      if (toolResult) {
        results.push(toolResult.content);
        text(`RESULT: ${JSON.stringify(toolResult.content)}`);
      } else if (offersTool || offersWait) {
        const [id, name] = offersTool ? ['toolu_fake', tool] : [`toolu_wait_${waits}`, 'WaitForMcpServers'];
        ev('content_block_start', { index: 0, content_block: { type: 'tool_use', id, name, input: {} } });
        ev('content_block_delta', { index: 0, delta: { type: 'input_json_delta', partial_json: '{}' } });
        ev('content_block_stop', { index: 0 });
        ev('message_delta', { delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 1 } });
      } else {
        text('no tool offered');
      }
      ev('message_stop', {});
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    results,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
