import type { Implementation, ServerCapabilities } from '@modelcontextprotocol/sdk/types.js';

/**
 * The child's capabilities as the bridge advertises them: list_changed is always on for what the
 * child offers, because the bridge itself sends it after a restart (Claude Code refreshes tools only
 * when tools.listChanged is advertised).
 */
export function advertisedCapabilities(child: ServerCapabilities): ServerCapabilities {
  const caps: ServerCapabilities = { ...child };
  // Tasks live in the one child, which sees one client: every session could list and fetch every
  // other session's tasks. Not offered until tasks are routed per session.
  delete (caps as Record<string, unknown>).tasks;
  if (caps.tools) caps.tools = { ...caps.tools, listChanged: true };
  if (caps.prompts) caps.prompts = { ...caps.prompts, listChanged: true };
  if (caps.resources) caps.resources = { ...caps.resources, listChanged: true };
  return caps;
}

/**
 * The client's name and version as plain short strings: they end up in log lines and labels, and
 * a hostile value (an object whose toString throws, a deeply nested array) must not break those.
 */
export function clientInfoOf(v: unknown): Implementation | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  const text = (x: unknown) => (typeof x === 'string' ? x.slice(0, 200) : typeof x === 'number' || typeof x === 'boolean' ? String(x) : undefined);
  return { name: text(o.name) ?? 'unnamed client', version: text(o.version) ?? '' };
}
