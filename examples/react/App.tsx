/**
 * The README's example: one client for the app (NotifierProvider), a status banner, and the
 * failed executions as they happen. Render <App /> in any React 18/19 app (e.g. Vite's main.tsx).
 */
import { NotifierProvider, useNotifications } from 'notifier/react';
import { WebSocketStatus } from './WebSocketStatus.js';

function FailedExecutions() {
  const { notifications, state } = useNotifications('entity_type:execution', {
    where: { status: { in: ['failed', 'timeout'] } },
    max: 20,
  });
  return (
    <section>
      <h2>Failed executions ({state})</h2>
      <ul>
        {notifications.map((n) => (
          <li key={n.offset}>
            execution {String(n.entity_id)} at {n.timestamp}
          </li>
        ))}
      </ul>
    </section>
  );
}

export function App() {
  return (
    <NotifierProvider options={{ url: 'ws://localhost:8080/ws' }}>
      <WebSocketStatus />
      <FailedExecutions />
    </NotifierProvider>
  );
}
