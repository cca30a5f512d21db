/**
 * WebSocketStatus: seed 003's connection indicators on useConnectionState. The banner hides while
 * connected; `connecting` is a reconnect in progress (the client retries with back-off and
 * resumes); `disconnected` is final (closed, or the edge said not to retry, e.g. a revoked token).
 */
import { useConnectionState, type ClientState } from 'notifier/react';

const LOOK: Record<ClientState, { color: string; text: string }> = {
  connected: { color: 'green', text: 'Live updates' },
  connecting: { color: 'goldenrod', text: 'Reconnecting…' },
  disconnected: { color: 'crimson', text: 'Disconnected: reload the page' },
};

export function WebSocketStatus() {
  const state = useConnectionState();
  if (state === 'connected') return null;
  const { color, text } = LOOK[state];
  return (
    <div role="status" style={{ background: color, color: 'white', padding: '4px 8px' }}>
      {text}
    </div>
  );
}

/** The minimal dot for a navigation bar. */
export function ConnectionDot() {
  const state = useConnectionState();
  const { color, text } = LOOK[state];
  return <span title={text} aria-label={text} style={{ display: 'inline-block', width: 8, height: 8, borderRadius: 4, background: color }} />;
}
