// Loader hooks (node:module register) that give the conformance suite an `fs` with `globSync`.
// Only the suite's own imports are redirected: glob itself imports fs, and serving it the shim would make a
// cycle (shim -> glob -> fs shim) whose bindings are read before they exist.
import fs from 'node:fs';

const SHIM_URL = 'mcpshare-conformance:fs-with-globsync';
const SUITE_MARKER = '/@modelcontextprotocol/conformance/';

export async function resolve(specifier, context, nextResolve) {
  const fromSuite = context.parentURL !== undefined && context.parentURL.includes(SUITE_MARKER);
  if (fromSuite && (specifier === 'fs' || specifier === 'node:fs') && typeof fs.globSync !== 'function') {
    return { url: SHIM_URL, shortCircuit: true };
  }
  // The shim has no file location of its own; it finds `glob` from here (mcpshare's node_modules).
  if (context.parentURL === SHIM_URL && specifier === 'glob') {
    return nextResolve(specifier, { ...context, parentURL: import.meta.url });
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (url !== SHIM_URL) return nextLoad(url, context);
  // fs.globSync(pattern, {cwd}) returns relative paths, as glob's globSync does with the same options.
  const source = [
    `import fs from 'node:fs';`,
    `import { globSync } from 'glob';`,
    `export * from 'node:fs';`,
    `export { globSync };`,
    `export default Object.assign(Object.create(fs), { globSync });`,
  ].join('\n');
  return { format: 'module', source, shortCircuit: true };
}
