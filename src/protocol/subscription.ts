/**
 * A subscription as a client asks for it: a filter (filters.ts) and an optional payload
 * predicate (`where`, predicates.ts) narrowing it. Its `id` is the one string that names the
 * pair everywhere on the edge (a connection's filter list, routing topics, unsubscribe): the bare
 * filter when there is no predicate, else the filter, U+001F and the predicate's canonical key.
 * Filters hold no control characters and a canonical key is JSON (which escapes them), so an id
 * splits back unambiguously, and two ways of writing one predicate give one id.
 *
 * Imports: protocol/ only (pure).
 */
import { parseFilter } from './filters.js';
import { parseWhere, type CompiledPredicate } from './predicates.js';

const SEPARATOR = '\u001f';

export interface Where {
  /** Canonical JSON of the predicate (equal predicates, equal keys). */
  readonly key: string;
  readonly predicate: CompiledPredicate;
}

export interface WireSubscription {
  readonly filter: string;
  readonly where: Where | undefined;
  /** The filter, or filter + U+001F + where.key. */
  readonly id: string;
}

export type SubscriptionParseResult =
  | { ok: true; subscription: WireSubscription }
  | { ok: false; code: 'invalid_filter' | 'invalid_where'; message: string };

/** Validates a filter and its optional `where` (undefined: none; any other value is checked). */
export function parseSubscription(filter: unknown, where: unknown): SubscriptionParseResult {
  const parsed = parseFilter(filter);
  if (!parsed.ok) return { ok: false, code: 'invalid_filter', message: parsed.message };
  if (where === undefined) return { ok: true, subscription: { filter: parsed.filter, where: undefined, id: parsed.filter } };
  const w = parseWhere(where);
  if (!w.ok) return { ok: false, code: 'invalid_where', message: w.message };
  return { ok: true, subscription: { filter: parsed.filter, where: { key: w.key, predicate: w.predicate }, id: parsed.filter + SEPARATOR + w.key } };
}

/** The filter part of a subscription id. */
export function filterOf(id: string): string {
  const at = id.indexOf(SEPARATOR);
  return at < 0 ? id : id.slice(0, at);
}

/** The predicate's canonical key in a subscription id, or undefined for a bare filter. */
export function whereKeyOf(id: string): string | undefined {
  const at = id.indexOf(SEPARATOR);
  return at < 0 ? undefined : id.slice(at + 1);
}

/** Whether a subscription id carries a predicate. */
export function hasWhere(id: string): boolean {
  return id.includes(SEPARATOR);
}

/** The subscription as the client wrote it, for acknowledgements: `{filter}` or `{filter, where}` (canonical). */
export function describeSubscription(id: string): { filter: string; where?: unknown } {
  const key = whereKeyOf(id);
  return key === undefined ? { filter: id } : { filter: filterOf(id), where: JSON.parse(key) as unknown };
}
