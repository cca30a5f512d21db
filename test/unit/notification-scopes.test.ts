import { describe, expect, it } from 'vitest';
import type { BusNotification } from '../../src/bus/bus.js';
import { NotificationScopes } from '../../src/edge/notification-scopes.js';

/** A notification whose frame counts how often it is read. */
function counted(payload: Record<string, unknown>): { n: BusNotification; reads: () => number } {
  let reads = 0;
  const frame = JSON.stringify({ notification_type: 't', payload, offset: '1-0' });
  const n = { offset: '1-0', prev: '0-0', keys: [], notificationType: 't', sourceTime: 0, get frame() {
    reads += 1;
    return frame;
  } } as BusNotification;
  return { n, reads: () => reads };
}

describe('NotificationScopes', () => {
  it('reads a notification’s frame once, for delivery and every replay after', () => {
    const scopes = new NotificationScopes(['tenant_id']);
    const acme = counted({ tenant_id: 'acme' });
    const none = counted({ other: 1 });
    for (let i = 0; i < 3; i++) {
      expect(scopes.of(acme.n)).toBe('acme');
      expect(scopes.of(none.n)).toBeUndefined();
    }
    expect([acme.reads(), none.reads()]).toEqual([1, 1]);
  });
});
