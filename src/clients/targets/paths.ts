import { join } from 'node:path';
import type { ClientContext } from './types.js';

/** Where desktop apps and XDG tools keep their settings, per OS. */
export function xdgConfig(ctx: ClientContext): string {
  return ctx.env.XDG_CONFIG_HOME || join(ctx.home, '.config');
}

/** Electron apps' per-user data folder (`app.getPath('appData')`): ~/Library/Application Support, %APPDATA%, $XDG_CONFIG_HOME. */
export function appData(ctx: ClientContext): string {
  if (ctx.platform === 'darwin') return join(ctx.home, 'Library', 'Application Support');
  if (ctx.platform === 'win32') return ctx.env.APPDATA || join(ctx.home, 'AppData', 'Roaming');
  return xdgConfig(ctx);
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The keys of `old` that do not depend on the transport (timeouts, tool filters, enabled), to keep on the switched entry. */
export function keep(old: unknown, keys: readonly string[]): Record<string, unknown> {
  if (!isObject(old)) return {};
  return Object.fromEntries(keys.filter((k) => k in old).map((k) => [k, old[k]]));
}
