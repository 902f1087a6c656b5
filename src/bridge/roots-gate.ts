/**
 * A server that scopes itself by roots (server-filesystem) asks for them once it is initialized and
 * applies the answer asynchronously (it resolves and checks each directory). A client request that
 * reached it first would be served with its start-up reach, and one that arrives while the answer
 * is being applied may race it. So a child pool holds its clients' requests for a child until the
 * child has been given its roots and has had a moment to apply them.
 *
 * Which servers ask is learned from the first child of a pool: until then the first requests wait
 * a short grace after the child is ready; a server known not to ask is never waited for.
 */

/** After the bridge answered a child's roots/list: time for the child to apply it (server-filesystem needs a few ms). */
export const ROOTS_SETTLE_MS = 100;
/** A child of a server whose habits are unknown yet: how long after its initialize it may take to ask. */
export const FIRST_ASK_GRACE_MS = 300;
/** A child of a server known to ask: the longest its first requests wait for the question. */
export const ASKER_WAIT_MS = 2000;

/** What a pool has learned about its server, shared by the gates of all its children. */
export interface RootsHabit {
  asksRoots?: boolean;
}

export class RootsGate {
  private open = false;
  private timer?: NodeJS.Timeout;
  private waiters: Array<() => void> = [];

  constructor(private readonly habit: RootsHabit) {}

  get isOpen(): boolean {
    return this.open;
  }

  /** A new child process is on its way: requests wait again. */
  arm(): void {
    this.open = false;
    this.clear();
  }

  /** The child finished its handshake: open now, or after the wait its habits call for. */
  childReady(): void {
    if (this.open) return;
    this.clear();
    if (this.habit.asksRoots === false) return this.release();
    this.timer = setTimeout(
      () => {
        this.habit.asksRoots ??= false;
        this.release();
      },
      this.habit.asksRoots ? ASKER_WAIT_MS : FIRST_ASK_GRACE_MS,
    );
  }

  /**
   * The child was told roots/list_changed: requests wait for its question and the answer, or at
   * most ASKER_WAIT_MS for a child that does not ask again.
   */
  expect(): void {
    this.open = false;
    this.clear();
    this.timer = setTimeout(() => this.release(), ASKER_WAIT_MS);
  }

  /** The child asked for roots: the answer opens the gate. */
  asked(): void {
    // Only a question while requests wait tells how the server starts: one asked during a tool call
    // (server-everything's `roots` tool) must not make every later start wait for a question.
    if (this.open) return;
    this.habit.asksRoots = true;
    // From now on only the answer opens the gate (a grace or wait timer must not beat it).
    this.clear();
  }

  /** The answer is on its way to the child. */
  answered(): void {
    if (this.open) return;
    this.clear();
    this.timer = setTimeout(() => this.release(), ROOTS_SETTLE_MS);
  }

  /** Opens at once (a child that gave up: its requests get the router's error, not a wait). */
  release(): void {
    this.clear();
    this.open = true;
    for (const w of this.waiters.splice(0)) w();
  }

  wait(): Promise<void> {
    if (this.open) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
