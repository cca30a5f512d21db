/**
 * NotifierProvider puts one NotifierClient in React context; useNotifierClient reads it. Given
 * `options`, the provider creates the client when it mounts and closes it when it unmounts (in an
 * effect, so StrictMode's mount, unmount, mount leaves exactly one open client); given `client`,
 * it only passes it down, and whoever created it closes it.
 *
 * Imports: client/ and react only.
 */
import { createContext, createElement, useContext, useEffect, useRef, useState, type ReactElement, type ReactNode } from 'react';
import { NotifierClient } from '../client/client.js';
import type { NotifierClientOptions } from '../client/types.js';

/** `undefined`: no provider above. `null`: a provider whose client is not created yet (before its first effect). */
const NotifierContext = createContext<NotifierClient | null | undefined>(undefined);

export type NotifierProviderProps =
  | { client: NotifierClient; options?: never; children?: ReactNode }
  | {
      /** Read when the provider mounts, and again when `url` changes (a new client then replaces the old). */
      options: NotifierClientOptions;
      client?: never;
      children?: ReactNode;
    };

export function NotifierProvider(props: NotifierProviderProps): ReactElement {
  const given = props.client;
  const options = props.options;
  // The newest options, so that a client created earlier still calls the newest `token` function.
  const latest = useRef(options);
  latest.current = options;
  const [own, setOwn] = useState<NotifierClient | null>(null);
  const url = options?.url;
  useEffect(() => {
    const opts = latest.current;
    if (given || !opts) return;
    const token = opts.token && (() => (latest.current?.token ?? opts.token!)());
    const client = new NotifierClient({ ...opts, ...(token ? { token } : {}) });
    setOwn(client);
    return () => {
      client.close();
      setOwn((c) => (c === client ? null : c));
    };
  }, [given, url]);
  return createElement(NotifierContext.Provider, { value: given ?? own }, props.children);
}

/**
 * The provider's client; `null` until a provider given `options` has created it (its first
 * effect). Throws outside a NotifierProvider.
 */
export function useNotifierClient(): NotifierClient | null {
  const client = useContext(NotifierContext);
  if (client === undefined) throw new Error('useNotifierClient: no <NotifierProvider> above this component');
  return client;
}
