/**
 * ESLint rule `mcpshare/layers`: imports in src/ only go down the layers DESIGN.md draws, so no
 * cycle and no upward reach can come back. Every kind of import counts: `import`, `export … from`,
 * a dynamic `import()` and a type position's `import('…').T`.
 *
 *   util (and src/errors.ts, version.ts, runtime.ts) ← bridge, demo
 *   util ← registry ← units ← health ← clients, doctor ← tray ← cli
 *   connect (the stdio shim) sits on registry and on the bridge's JSON-RPC shape helpers; cli runs it
 *
 * health may import the bridge's types (the /status body) but never its code: a type import loads
 * nothing at run time, and the tray must not pay for the bridge.
 */
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src');

/** The layers each layer may import from (its own layer is always allowed). */
export const ALLOWED = {
  base: [],
  util: ['base'],
  bridge: ['util', 'base'],
  demo: ['util', 'base'],
  connect: ['bridge', 'registry', 'util', 'base'],
  registry: ['util', 'base'],
  units: ['registry', 'util', 'base'],
  health: ['units', 'registry', 'util', 'base'],
  clients: ['health', 'units', 'registry', 'util', 'base'],
  doctor: ['health', 'units', 'registry', 'util', 'base'],
  tray: ['clients', 'doctor', 'health', 'units', 'registry', 'util', 'base'],
  cli: ['tray', 'clients', 'doctor', 'health', 'units', 'registry', 'bridge', 'demo', 'connect', 'util', 'base'],
};

/** Layers whose types (only) a layer may import. */
const TYPES_ONLY = { health: ['bridge'] };

const ORDER = 'util → registry → units → health → clients/doctor → tray → cli (bridge and demo sit on util; health may import bridge types)';

/** The layer of a file under src/, or undefined outside src/. */
export function layerOf(file) {
  const rel = relative(SRC, file);
  if (rel.startsWith('..') || rel.startsWith(sep) || rel === '') return undefined;
  const parts = rel.split(sep);
  if (parts.length === 1) return parts[0] === 'cli.ts' ? 'cli' : 'base';
  return parts[0];
}

function isTypeOnly(node) {
  if (node.type === 'TSImportType') return true;
  if (node.importKind === 'type' || node.exportKind === 'type') return true;
  // `import { type A, type B } from …` is erased too.
  return node.type === 'ImportDeclaration' && node.specifiers.length > 0 && node.specifiers.every((s) => s.importKind === 'type');
}

export const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: `imports in src/ go one way: ${ORDER}` },
    schema: [],
    messages: {
      upward: '{{from}} ({{fromLayer}}) must not import {{target}} ({{toLayer}}): imports go {{order}}.',
      unknown: '{{from}} is in src/{{fromLayer}}/, which the layer rule does not know: add it to ALLOWED in scripts/eslint-layers.js.',
    },
  },
  create(context) {
    const file = context.filename;
    const fromLayer = layerOf(file);
    if (!fromLayer) return {};
    const from = relative(resolve(SRC, '..'), file);
    const allowed = ALLOWED[fromLayer];
    if (!allowed) {
      return { Program: (node) => context.report({ node, messageId: 'unknown', data: { from, fromLayer } }) };
    }
    const check = (node, source) => {
      if (!source || typeof source.value !== 'string' || !source.value.startsWith('.')) return;
      const toLayer = layerOf(resolve(dirname(file), source.value));
      if (!toLayer || toLayer === fromLayer || allowed.includes(toLayer)) return;
      if (TYPES_ONLY[fromLayer]?.includes(toLayer) && isTypeOnly(node)) return;
      context.report({ node: source, messageId: 'upward', data: { from, fromLayer, target: source.value, toLayer, order: ORDER } });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source),
      ExportNamedDeclaration: (node) => check(node, node.source),
      ExportAllDeclaration: (node) => check(node, node.source),
      ImportExpression: (node) => check(node, node.source.type === 'Literal' ? node.source : undefined),
      TSImportType: (node) => check(node, node.source ?? node.argument?.literal),
    };
  },
};

export default { rules: { layers: layersRule } };
