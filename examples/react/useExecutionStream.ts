/**
 * useExecutionStream: the executions page (or one execution's detail page) kept current by
 * `row_notify('execution')`. Statuses are filtered by the edge (`where`), so a page showing
 * failures never receives the thousands of `running` updates. The edge sends only rows whose new
 * status is in the set, so a row that leaves it is never seen: fine for final statuses (failed,
 * timeout, succeeded); for others, leave `statuses` out and check them with `matches`.
 */
import { useEntityStream } from './useEntityStream.js';

export interface Execution {
  id: number;
  action: string;
  status: 'requested' | 'running' | 'succeeded' | 'failed' | 'timeout';
  updated: string;
}

export interface ExecutionStreamOptions {
  /** A detail page: this execution only. */
  executionId?: number;
  /** Only these final statuses (checked by the edge). */
  statuses?: Execution['status'][];
  /** Called after missed notifications: reload the executions. */
  reload?: () => void;
}

export function useExecutionStream(loaded: Execution[], { executionId, statuses, reload }: ExecutionStreamOptions = {}) {
  return useEntityStream<Execution>('execution', {
    rows: loaded,
    ...(executionId !== undefined ? { id: executionId } : {}),
    ...(statuses ? { where: { 'row.status': { in: statuses } }, matches: (e: Execution) => statuses.includes(e.status) } : {}),
    ...(reload ? { onReset: reload } : {}),
  });
}
