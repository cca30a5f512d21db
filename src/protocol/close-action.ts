/**
 * What a client does after a close it did not ask for, without the table of meanings
 * (close-codes.ts) that the browser SDK cannot afford to ship: 4500–4999 stop, the standard codes
 * whose action is stop (1009) stop, everything else reconnects with back-off.
 * test/unit/close-codes.test.ts checks it agrees with close-codes.ts's closeAction on every code.
 *
 * Imports: nothing (pure).
 */
export type CloseAction = 'reconnect' | 'stop';

/** 1009: the client's own library refused a notification; reconnecting gets the same one again. */
const STOP_CODES: readonly number[] = [1009];

export function compactCloseAction(code: number): CloseAction {
  return (code >= 4500 && code <= 4999) || STOP_CODES.includes(code) ? 'stop' : 'reconnect';
}
