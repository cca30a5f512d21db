/**
 * Typed events for the client SDK: `on` returns the function that stops listening; a listener
 * that throws never breaks the emitter's caller.
 *
 * Imports: nothing.
 */
type Listener = (...args: never[]) => void;

export class Emitter<Events extends { [E in keyof Events]: Listener }> {
  private readonly listeners = new Map<keyof Events, Set<Listener>>();

  on<E extends keyof Events>(event: E, fn: Events[E]): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    const fns = set;
    fns.add(fn);
    return () => void fns.delete(fn);
  }

  emit<E extends keyof Events>(event: E, ...args: Parameters<Events[E]>): void {
    for (const fn of this.listeners.get(event) ?? []) {
      try {
        (fn as unknown as (...a: Parameters<Events[E]>) => void)(...args);
      } catch {
        // A listener's exception must not break the connection.
      }
    }
  }
}
