/**
 * A scripted WebSocket for the client SDK's unit tests: records every instance, its protocols and
 * what the client sent; the test opens it, feeds it server messages and closes it.
 */
import type { SocketLike } from '../../src/client/index.js';

export class FakeSocket implements SocketLike {
  static all: FakeSocket[] = [];
  static reset(): void {
    FakeSocket.all = [];
  }
  static get last(): FakeSocket {
    const s = FakeSocket.all.at(-1);
    if (!s) throw new Error('no socket was opened');
    return s;
  }

  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly sent: string[] = [];
  closedWith: { code?: number; reason?: string } | undefined;

  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {
    FakeSocket.all.push(this);
  }

  send(data: string): void {
    this.sent.push(data);
  }
  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
  }

  /** What the client sent, parsed. */
  get messages(): Record<string, unknown>[] {
    return this.sent.map((s) => JSON.parse(s) as Record<string, unknown>);
  }

  // The server's side.
  open(welcome: Record<string, unknown> | undefined = { epoch: 'e1', offset: '100-0' }): void {
    this.onopen?.({});
    if (welcome) this.receive({ type: 'welcome', client_id: 'c1', message: 'Connected to notifier', ...welcome });
  }
  receive(m: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(m) });
  }
  notify(offset: string, fields: Record<string, unknown> = {}): void {
    this.receive({ notification_type: 'thing_changed', entity_type: 'thing', entity_id: 1, user_id: null, payload: {}, timestamp: '2026-01-01T00:00:00Z', offset, ...fields });
  }
  serverClose(code: number, reason = ''): void {
    this.onclose?.({ code, reason });
  }
}
