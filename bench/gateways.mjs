/**
 * The gateways the peer comparison runs, each fronting the same stdio server-everything:
 * mcpshare (its bridge, over Streamable HTTP and over legacy SSE), supergateway 4 (SSE, which
 * shares one child, and stateful Streamable HTTP, which starts a child per session) and mcp-proxy 6
 * (Streamable HTTP, one shared child behind one SDK Client).
 *
 * Each is started the way its README says, with its defaults, except:
 *  - everything listens on 127.0.0.1 and a free port;
 *  - supergateway gets `--logLevel none`: at its default `info` it logs every message it relays,
 *    a debugging cost neither other gateway pays (the peer's most favourable setting);
 *  - supergateway gets a `/healthz` endpoint, so readiness can be probed without opening an SSE
 *    session (a probe session would be counted in its idle memory).
 * Every gateway is the leader of its own process group and is tracked with its whole tree.
 */
import { readFileSync } from 'node:fs';
import { EVERYTHING, ROOT, freePort, startBridge, startProcess, waitHttp, waitReady } from './procs.mjs';
import { connectHttp, connectSse } from './load.mjs';

const SUPERGATEWAY = `${ROOT}node_modules/supergateway/dist/index.js`;
const MCP_PROXY = `${ROOT}node_modules/mcp-proxy/dist/bin/mcp-proxy.mjs`;
const version = (pkg) => JSON.parse(readFileSync(`${ROOT}node_modules/${pkg}/package.json`, 'utf8')).version;

/** Starts an mcpshare bridge (deployed V8 flags) in front of server-everything. */
async function startMcpshare(name, nodeFlags) {
  const bridge = await startBridge(nodeFlags, name);
  await waitReady(bridge);
  return { pid: bridge.pid, url: bridge.url, command: `node ${[...nodeFlags, 'dist/cli.js bridge --port 0'].join(' ')} -- node server-everything stdio` };
}

/** Starts supergateway 4 with stdio server-everything; `extra` selects the output transport. */
async function startSupergateway(label, extra) {
  const port = await freePort();
  const serverCmd = `${process.execPath} ${EVERYTHING} stdio`; // supergateway runs it through a shell
  const args = [SUPERGATEWAY, '--stdio', serverCmd, '--port', String(port), '--logLevel', 'none', '--healthEndpoint', '/healthz', ...extra];
  const p = startProcess(label, process.execPath, args);
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(p, `${url}/healthz`);
  return { pid: p.pid, url, process: p, command: ['node supergateway --stdio "node server-everything stdio"', ...extra, '--logLevel none'].join(' ') };
}

/** Starts mcp-proxy 6 (defaults: Streamable HTTP on /mcp and SSE on /sse, one shared child). */
async function startMcpProxy(label) {
  const port = await freePort();
  const args = [MCP_PROXY, '--port', String(port), '--host', '127.0.0.1', '--', process.execPath, EVERYTHING, 'stdio'];
  const p = startProcess(label, process.execPath, args);
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(p, `${url}/bench-ready-probe`); // mcp-proxy connects its child before it listens
  return { pid: p.pid, url, process: p, command: 'node mcp-proxy --port N --host 127.0.0.1 -- node server-everything stdio' };
}

/**
 * The targets, in the order they are measured and shown. `product` groups rows for the ratios;
 * `transport` says which mcpshare row a peer is compared with (same transport, same client code).
 */
export function gatewayTargets(nodeFlags) {
  return [
    {
      id: 'mcpshare-http',
      product: 'mcpshare',
      version: JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')).version,
      transport: 'http',
      label: 'mcpshare, Streamable HTTP',
      start: () => startMcpshare('peers-http', nodeFlags),
      connect: connectHttp,
    },
    {
      id: 'mcpshare-sse',
      product: 'mcpshare',
      version: JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')).version,
      transport: 'sse',
      label: 'mcpshare, SSE',
      start: () => startMcpshare('peers-sse', nodeFlags),
      connect: connectSse,
    },
    {
      id: 'supergateway-sse',
      product: 'supergateway',
      version: version('supergateway'),
      transport: 'sse',
      label: 'supergateway, SSE',
      start: () => startSupergateway('supergateway (SSE)', []),
      connect: connectSse,
    },
    {
      id: 'supergateway-http',
      product: 'supergateway',
      version: version('supergateway'),
      transport: 'http',
      label: 'supergateway, stateful Streamable HTTP',
      start: () => startSupergateway('supergateway (stateful Streamable HTTP)', ['--outputTransport', 'streamableHttp', '--stateful']),
      connect: connectHttp,
    },
    {
      id: 'mcp-proxy-http',
      product: 'mcp-proxy',
      version: version('mcp-proxy'),
      transport: 'http',
      label: 'mcp-proxy, Streamable HTTP',
      start: () => startMcpProxy('mcp-proxy'),
      connect: connectHttp,
    },
  ];
}
