/**
 * V8 flags every long-lived mcpshare process runs with (the CLI's shebang carries the same list,
 * and units/supervisors put them on the node command line). Measured on the bridge with 30 sessions
 * after 3,000 calls: 121 MB RSS without them, 79 MB with them, no measurable latency cost.
 * (--lite-mode would save more but disables WebAssembly, which fetch() needs.)
 */
export const NODE_MEMORY_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--optimize-for-size'];
