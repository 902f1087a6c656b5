import type { ServerEntry } from './registry.js';

/** The URL clients are given for a registered server: loopback, its port and its endpoint path. */
export function clientUrl(entry: Pick<ServerEntry, 'port' | 'path'>, host = 'localhost'): string {
  return `http://${host}:${entry.port}${entry.path}`;
}
