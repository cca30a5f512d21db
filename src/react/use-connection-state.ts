/**
 * useConnectionState: the provider's client state (`connecting`, `connected`, `disconnected`),
 * re-rendering on each change. `connecting` until the provider has created its client.
 *
 * Imports: client/ types and react only.
 */
import { useCallback, useSyncExternalStore } from 'react';
import type { ClientState } from '../client/types.js';
import { useNotifierClient } from './provider.js';

export function useConnectionState(): ClientState {
  const client = useNotifierClient();
  const subscribe = useCallback((changed: () => void) => (client ? client.on('state', () => changed()) : () => {}), [client]);
  const snapshot = (): ClientState => client?.state ?? 'connecting';
  return useSyncExternalStore(subscribe, snapshot, () => 'connecting');
}
