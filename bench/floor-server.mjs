/**
 * The "HTTP floor": the least an MCP server can do over Streamable HTTP. A bare node:http server
 * that answers initialize, ping and `tools/call echo` itself with a JSON body (no framework, no SSE,
 * no child). Timing the same clients against it shows what the HTTP hop and the client's transport
 * cost on this machine before the bridge does anything. Run as its own process; prints its port.
 */
import http from 'node:http';

const reply = (res, status, body, headers = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', 'mcp-session-id': 'floor', ...headers });
  res.end(body === undefined ? undefined : JSON.stringify(body));
};

const server = http.createServer((req, res) => {
  if (req.method === 'DELETE') return reply(res, 200);
  if (req.method !== 'POST') return reply(res, 405, undefined, { allow: 'POST, DELETE' }); // no GET stream
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    const m = JSON.parse(body);
    if (m.id === undefined) return reply(res, 202); // a notification
    let result;
    if (m.method === 'initialize') {
      result = { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: 'floor', version: '1.0.0' } };
    } else if (m.method === 'ping') {
      result = {};
    } else if (m.method === 'tools/call' && m.params?.name === 'echo') {
      result = { content: [{ type: 'text', text: `Echo: ${m.params.arguments?.message}` }] };
    } else {
      return reply(res, 200, { jsonrpc: '2.0', id: m.id, error: { code: -32601, message: `Method not found: ${m.method}` } });
    }
    reply(res, 200, { jsonrpc: '2.0', id: m.id, result });
  });
});

server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
