/**
 * V8 flags every long-lived mcpshare process runs with (the CLI's shebang carries the same list,
 * and units/supervisors put them on the node command line). A bridge runs for days: with V8's
 * default 16 MB semi-spaces its RSS climbs to ~113 MB (peak 126) after sustained load; with 2 MB
 * it stays near 84 MB, and `npm run bench` shows no latency cost. (--optimize-for-size and a 1 MB
 * semi-space saved ~10 MB more but doubled the CPU per call; --lite-mode disables WebAssembly,
 * which fetch() needs.)
 */
export const NODE_MEMORY_FLAGS: readonly string[] = ['--max-semi-space-size=2'];

/**
 * Flags for `mcpshare connect`, the stdio shim a stdio-only client (Claude Desktop) starts once per
 * server and keeps for days. It only parses and forwards JSON, which V8's optimizing tiers do not
 * speed up measurably, while their compiled code and the larger young generation cost ~8 MB of RSS
 * per shim (measured after 200 relayed calls: 53.6 MB with NODE_MEMORY_FLAGS, 45.9 MB with these,
 * same wall time). Not --jitless/--lite-mode: both disable WebAssembly and make V8 print a warning.
 */
export const CONNECT_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--no-opt', '--no-maglev', '--no-sparkplug'];
