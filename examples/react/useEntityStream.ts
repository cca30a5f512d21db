/**
 * useEntityStream: a page's rows kept current by `notifier.row_notify(entity_type)`
 * notifications, without refetching: a changed row is updated in place, a new one that matches
 * the page's filters goes on top, a deleted one (or one that stopped matching) leaves. The shared
 * part of the seeds' useExecutionStream and useEnforcementStream.
 */
import { useState } from 'react';
import { useEntityNotifications, type ClientState, type Notification, type Where } from 'notifier/react';

export interface Row {
  id: string | number;
}

export interface EntityStreamOptions<T extends Row> {
  /** The rows the page loaded (from your API). Other rows (a reload) replace the list. */
  rows: T[];
  /** A detail page: this entity only (`entity:TYPE:ID`). Default: every entity of the type. */
  id?: string | number;
  /** The page's own filters, checked here (the seeds' enforcementMatchesParams). */
  matches?: (row: T) => boolean;
  /** The filters the edge can check, so that the rest is never sent. */
  where?: Where;
  /** Notifications were missed (the client could not resume): reload `rows`. */
  onReset?: () => void;
  /** Rows kept at most. Default 100. */
  max?: number;
}

/** The payload `notifier.row_notify` sends (README: "Row triggers"). */
interface RowPayload<T> {
  operation: 'INSERT' | 'UPDATE' | 'DELETE';
  row: T;
}

export function useEntityStream<T extends Row>(entityType: string, options: EntityStreamOptions<T>): { rows: T[]; state: ClientState } {
  const { rows: loaded, id, matches = () => true, where, onReset, max = 100 } = options;
  const [rows, setRows] = useState(loaded);
  const [from, setFrom] = useState(loaded);
  // Compared row by row: `data ?? []` is a new array at each render, yet no reload.
  if (from.length !== loaded.length || from.some((r, i) => r !== loaded[i])) {
    setFrom(loaded);
    setRows(loaded);
  }
  const { state } = useEntityNotifications(entityType, id, {
    max: 0, // the rows are the state; the hook need not keep the notifications too
    ...(where ? { where } : {}),
    ...(onReset ? { onReset } : {}),
    onNotification: (n) => setRows((current) => apply(current, n, matches, max)),
  });
  return { rows, state };
}

function apply<T extends Row>(rows: T[], n: Notification, matches: (row: T) => boolean, max: number): T[] {
  const { operation, row } = n.payload as RowPayload<T>;
  const at = rows.findIndex((r) => String(r.id) === String(row.id));
  if (operation === 'DELETE' || !matches(row)) return at < 0 ? rows : rows.filter((_, i) => i !== at);
  if (at >= 0) return rows.map((r, i) => (i === at ? row : r));
  return [row, ...rows].slice(0, max);
}
