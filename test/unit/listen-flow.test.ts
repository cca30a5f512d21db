import { describe, expect, it } from 'vitest';
import { ListenFlow } from '../../src/listener/listen-flow.js';

function setup(over: { canPause?: () => boolean } = {}) {
  const calls: string[] = [];
  let now = 0;
  let pauses = 0;
  const flow = new ListenFlow(
    { pause: () => calls.push('pause'), resume: () => calls.push('resume') },
    { high: 10, low: 5, maxPauseMs: 1000, canPause: over.canPause ?? (() => true), onPause: () => pauses++, now: () => now },
  );
  return { flow, calls, advance: (ms: number) => (now += ms), pauses: () => pauses };
}

describe('ListenFlow', () => {
  it('pauses at the high mark, once, and resumes at the low mark', () => {
    const { flow, calls, pauses } = setup();
    flow.queued(9);
    expect(flow.paused).toBe(false);
    flow.queued(10);
    flow.queued(11);
    expect(flow.paused).toBe(true);
    expect(pauses()).toBe(1);
    flow.drained(6);
    expect(flow.paused).toBe(true);
    flow.drained(5);
    expect(flow.paused).toBe(false);
    expect(calls).toEqual(['pause', 'resume']);
  });

  it('does not pause while the session is busy with a query', () => {
    let busy = true;
    const { flow, calls } = setup({ canPause: () => !busy });
    flow.queued(50);
    expect(flow.paused).toBe(false);
    busy = false;
    flow.queued(51);
    expect(calls).toEqual(['pause']);
  });

  it('resumes after maxPauseMs even when nothing drains (the bus is down)', () => {
    const { flow, calls, advance } = setup();
    flow.queued(10);
    advance(999);
    flow.drained(100);
    expect(flow.paused).toBe(true);
    advance(1);
    flow.drained(100);
    expect(flow.paused).toBe(false);
    expect(calls).toEqual(['pause', 'resume']);
  });

  it('release() resumes a paused socket and is harmless otherwise', () => {
    const { flow, calls } = setup();
    flow.release();
    flow.drained(0);
    expect(calls).toEqual([]);
    flow.queued(10);
    flow.release();
    flow.release();
    expect(calls).toEqual(['pause', 'resume']);
  });
});
