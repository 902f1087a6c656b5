import { CONNECT_NODE_FLAGS } from '../runtime.js';
import { CLI_PATH } from '../units/daemon.js';

/**
 * What a stdio-only client's config runs to reach a shared server through the shim: absolute paths
 * to node and to this installation's CLI (a desktop app started from the dock has neither on its
 * PATH), with the shim's memory flags (CONNECT_NODE_FLAGS), then `connect NAME`.
 */
export function connectLaunch(name: string): { command: string; args: string[] } {
  return { command: process.execPath, args: [...CONNECT_NODE_FLAGS, CLI_PATH, 'connect', name] };
}
