/**
 * The protocol versions the bridge negotiates with clients. They mirror the SDK's constants (a test
 * keeps them in step); importing the SDK's types.js instead would load its zod schemas — about
 * 15 MB of RSS — into every idle bridge.
 */
export const LATEST_PROTOCOL_VERSION = '2025-11-25';
export const SUPPORTED_PROTOCOL_VERSIONS: readonly string[] = [LATEST_PROTOCOL_VERSION, '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07'];

/** The stateless revision: no initialize, no session; served beside the session-based ones. */
export const STATELESS_VERSION = '2026-07-28';
