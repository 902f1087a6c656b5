import { McpshareError } from '../errors.js';

/**
 * Server names become file names (`~/.config/mcp/NAME.env`), unit names (`mcp-NAME.service`),
 * launchd labels and keys in `.mcp.json`, so they are restricted to what is safe in all of them:
 * no path separators, no dots (no `..`), no spaces, no systemd escaping.
 */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$/;

export function validateName(name: string): string {
  if (!NAME_RE.test(name)) {
    throw new McpshareError(
      'invalid-name',
      `invalid server name "${name}": use 1–48 letters, digits, "-" or "_", starting with a letter or digit (it becomes a file and unit name)`,
    );
  }
  // launchd labels are dev.mcpshare.NAME, and dev.mcpshare.tray is the tray's own LaunchAgent.
  if (RESERVED.has(name.toLowerCase()))
    throw new McpshareError('invalid-name', `the server name "${name}" is reserved for mcpshare's own ${RESERVED.get(name.toLowerCase())}; pick another`);
  return name;
}

const RESERVED = new Map([['tray', 'tray icon (its LaunchAgent is dev.mcpshare.tray)']]);
