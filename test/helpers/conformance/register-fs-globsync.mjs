// Preload for the conformance suite on Node 20: `node --import <this file> node_modules/.../dist/index.js`.
// The suite's bundle does `import { globSync } from "fs"`, a named ESM import that Node 20's fs lacks, so
// the link step fails before any code runs (patching fs at run time would be too late). The hooks below
// serve the suite its own view of `fs` with `globSync` added, taken from the `glob` package.
import { register } from 'node:module';

register('./fs-globsync-hooks.mjs', import.meta.url);
