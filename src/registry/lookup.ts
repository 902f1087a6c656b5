import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultRegistryDir } from './location.js';
import type { ServerEntry } from './registry.js';

/**
 * One registry entry, read straight from the file conf writes, for processes that must stay small
 * (`mcpshare connect` runs once per client window for days): loading conf costs ~13 MB of RSS
 * (measured: 42 MB → 55 MB). Read-only; every write still goes through Registry.
 * The errors say what Registry.require says, so both paths read the same to a user.
 */
/** Not registry.ts's RegistryError: importing that module (even for a class) loads conf. */
export class RegistryLookupError extends Error {
  override name = 'RegistryLookupError';
}

export function lookupEntry(name: string, dir: string = defaultRegistryDir()): ServerEntry {
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new RegistryLookupError(`no server named "${name}" is registered (none yet: add one with "mcpshare add NAME -- COMMAND" or "mcpshare import")`);
    }
    throw new RegistryLookupError(`${file} cannot be read (${(err as Error).message})`);
  }
  let store: { servers?: Record<string, ServerEntry> };
  try {
    store = JSON.parse(text);
  } catch (err) {
    throw new RegistryLookupError(`${file} is not valid JSON (${(err as Error).message}); fix it, or restore ${file}.bak if it exists`);
  }
  const servers = store && typeof store.servers === 'object' && store.servers !== null ? store.servers : {};
  const entry = Object.hasOwn(servers, name) ? servers[name] : undefined;
  if (entry && typeof entry === 'object' && Number.isInteger(entry.port)) return { ...entry, name };
  const names = Object.keys(servers).sort();
  throw new RegistryLookupError(
    `no server named "${name}" is registered` +
      (names.length ? ` (registered: ${names.join(', ')})` : ' (none yet: add one with "mcpshare add NAME -- COMMAND")'),
  );
}
