/**
 * useEnforcementStream: the enforcements page kept current by `row_notify('enforcement')`, with
 * the page's filters checked on each row (the seed's enforcementMatchesParams): a new enforcement
 * joins the list only when it matches them, and one that stops matching leaves it.
 */
import { useEntityStream } from './useEntityStream.js';

export interface Enforcement {
  id: number;
  rule: number;
  rule_ref: string;
  trigger_ref: string;
  event: number | null;
  status: 'created' | 'processed' | 'disabled';
}

export interface EnforcementParams {
  status?: Enforcement['status'];
  rule?: number;
  event?: number;
  triggerRef?: string;
}

export function enforcementMatchesParams(e: Enforcement, p: EnforcementParams): boolean {
  return (
    (p.status === undefined || e.status === p.status) &&
    (p.rule === undefined || e.rule === p.rule) &&
    (p.event === undefined || e.event === p.event) &&
    (p.triggerRef === undefined || e.trigger_ref === p.triggerRef)
  );
}

export function useEnforcementStream(loaded: Enforcement[], params: EnforcementParams, reload?: () => void) {
  return useEntityStream<Enforcement>('enforcement', {
    rows: loaded,
    matches: (e) => enforcementMatchesParams(e, params),
    ...(reload ? { onReset: reload } : {}),
  });
}
