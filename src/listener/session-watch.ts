/**
 * A one-shot "this session is over" signal with its reason: the LISTEN connection failed or
 * ended, or the leader lost its lock. `done` resolves and never rejects, because a rejected
 * promise in a Promise.race that nobody awaits any more goes unhandled, and Node 20 exits on that.
 *
 * Imports: nothing.
 */
export class SessionWatch {
  lost = false;
  reason = '';
  readonly done: Promise<void>;
  private resolve!: () => void;

  constructor() {
    this.done = new Promise((r) => (this.resolve = r));
  }

  /** The first call wins; later ones (a second error on a dying connection) are ignored. */
  fail(reason: string): void {
    if (this.lost) return;
    this.lost = true;
    this.reason = reason;
    this.resolve();
  }
}
