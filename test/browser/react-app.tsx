/**
 * The app the React hooks test bundles (esbuild) and renders in Chromium: a NotifierProvider in
 * StrictMode (effects run, are cleaned up, and run again), a status line, a list of
 * `entity_type:job` (useNotifications), the same filter with a `where`, and one job's
 * notifications (useEntityNotifications).
 * Two of examples/react run here as written: useExecutionStream (rows kept from row_notify-style
 * payloads) and WebSocketStatus. Buttons unmount the lists, and the provider. Everything the test
 * reads carries an id or data-*.
 */
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { NotifierProvider, useConnectionState, useEntityNotifications, useNotifications, type Notification } from '../../src/react/index.js';
import { useExecutionStream } from '../../examples/react/useExecutionStream.js';
import { WebSocketStatus } from '../../examples/react/WebSocketStatus.js';

function Items({ id, items }: { id: string; items: Notification[] }) {
  return (
    <ul id={id}>
      {items.map((n) => (
        <li key={n.offset} data-entity-id={String(n.entity_id)} data-type={n.entity_type ?? ''}>
          {n.notification_type} {String(n.entity_id)}
        </li>
      ))}
    </ul>
  );
}

function Jobs() {
  const { notifications, count, state, latest, reset } = useNotifications('entity_type:job', { max: 3 });
  return (
    <section>
      <p id="jobs-meta" data-count={count} data-state={state} data-latest={latest ? String(latest.entity_id) : ''} data-reset={reset?.reason ?? ''}>
        {count} jobs, {state}
      </p>
      <Items id="jobs" items={notifications} />
    </section>
  );
}

function JobOne() {
  const { notifications } = useNotifications('entity_type:job', { where: { entity_id: { in: [1] } } });
  return <Items id="job-where" items={notifications} />;
}

function OneJob({ id }: { id: number }) {
  const { notifications } = useEntityNotifications('job', id);
  return <Items id="job" items={notifications} />;
}

function FailedExecutions() {
  const { rows } = useExecutionStream([], { statuses: ['failed'] });
  return (
    <ul id="failed">
      {rows.map((e) => (
        <li key={e.id} data-entity-id={String(e.id)}>
          {e.action} {e.status}
        </li>
      ))}
    </ul>
  );
}

function Status() {
  const state = useConnectionState();
  return (
    <p id="status" data-state={state}>
      {state}
    </p>
  );
}

function App({ url }: { url: string }) {
  const [lists, setLists] = useState(true);
  const [provider, setProvider] = useState(true);
  return (
    <>
      <button id="toggle-lists" onClick={() => setLists((s) => !s)}>lists</button>
      <button id="toggle-provider" onClick={() => setProvider((s) => !s)}>provider</button>
      {provider && (
        <NotifierProvider options={{ url, reconnect: { minMs: 50, maxMs: 500 } }}>
          <Status />
          <WebSocketStatus />
          {lists && (
            <>
              <Jobs />
              <OneJob id={2} />
              <JobOne />
              <FailedExecutions />
            </>
          )}
        </NotifierProvider>
      )}
    </>
  );
}

export function mount(container: Element, url: string): void {
  createRoot(container).render(
    <StrictMode>
      <App url={url} />
    </StrictMode>,
  );
}
