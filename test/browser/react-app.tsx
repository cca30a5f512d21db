/**
 * The app the React hooks test bundles (esbuild) and renders in Chromium: a NotifierProvider in
 * StrictMode (effects run, are cleaned up, and run again), a status line, a list of
 * `entity_type:job` (useNotifications) and one job's notifications (useEntityNotifications).
 * Buttons unmount the lists, and the provider. Everything the test reads carries an id or data-*.
 */
import { StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { NotifierProvider, useConnectionState, useEntityNotifications, useNotifications, type Notification } from '../../src/react/index.js';

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
  const { notifications, count, state, latest } = useNotifications('entity_type:job', { max: 3 });
  return (
    <section>
      <p id="jobs-meta" data-count={count} data-state={state} data-latest={latest ? String(latest.entity_id) : ''}>
        {count} jobs, {state}
      </p>
      <Items id="jobs" items={notifications} />
    </section>
  );
}

function OneJob({ id }: { id: number }) {
  const { notifications } = useEntityNotifications('job', id);
  return <Items id="job" items={notifications} />;
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
          {lists && (
            <>
              <Jobs />
              <OneJob id={2} />
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
