/**
 * Bounded label values: a channel or notification_type outside the configured channels is
 * reported as `other`, so a stray `notifier.publish('per-user-123', …)` cannot create a time
 * series per value. The metric children are kept per folded value (at most the allowed values
 * plus `other`), so the hot path pays a Set and a Map lookup instead of prom-client's label
 * hashing.
 */
export const OTHER = 'other';

export class LabelFolder<T> {
  private readonly known: ReadonlySet<string>;
  private readonly children = new Map<string, T>();

  constructor(
    allowed: Iterable<string>,
    /** Builds what a folded label value selects (metric children). */
    private readonly make: (label: string) => T,
  ) {
    this.known = new Set(allowed);
  }

  fold(value: string): string {
    return this.known.has(value) ? value : OTHER;
  }

  for(value: string): T {
    const label = this.fold(value);
    let child = this.children.get(label);
    if (child === undefined) {
      child = this.make(label);
      this.children.set(label, child);
    }
    return child;
  }
}
