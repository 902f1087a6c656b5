import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * What a 2026 `requestState` carries: which parked call a retry continues, and which round of it.
 * Nothing in it is secret (a client may decode it); the MAC makes it unforgeable, and the round
 * makes each one good for a single retry.
 */
export interface RequestStateClaims {
  /** The parked call's upstream id. */
  call: number;
  round: number;
  /** The method the retry must repeat. */
  method: string;
  /** Milliseconds since the epoch after which the state is refused. */
  expires: number;
}

/** Signs and verifies `requestState` with a key that never leaves the bridge process. */
export class RequestStateSigner {
  constructor(private readonly key: Buffer = randomBytes(32)) {}

  sign(claims: RequestStateClaims): string {
    const body = Buffer.from(JSON.stringify([claims.call, claims.round, claims.method, claims.expires])).toString('base64url');
    return `${body}.${this.mac(body)}`;
  }

  /** The claims of a state this bridge signed and that has not expired; undefined otherwise. */
  verify(state: unknown, now = Date.now()): RequestStateClaims | undefined {
    if (typeof state !== 'string' || state.length > 512) return undefined;
    const dot = state.indexOf('.');
    if (dot <= 0) return undefined;
    const body = state.slice(0, dot);
    const given = Buffer.from(state.slice(dot + 1), 'base64url');
    const expected = Buffer.from(this.mac(body), 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    try {
      const [call, round, method, expires] = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as [number, number, string, number];
      if (typeof call !== 'number' || typeof round !== 'number' || typeof method !== 'string' || typeof expires !== 'number') return undefined;
      return expires >= now ? { call, round, method, expires } : undefined;
    } catch {
      return undefined;
    }
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
