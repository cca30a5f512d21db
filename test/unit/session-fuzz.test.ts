/**
 * A session under fast-check (issue 14 §8, "every input gets a reply or a documented close"):
 * sequences of hostile and valid frames, text or binary, on one connection through the real
 * Sessions, Subscriptions and FilterIndex. After each frame the client has exactly one reply of a
 * known kind, or the connection is closed with a code of close-codes.ts, or a resume began (its
 * answer, `resumed` or `reset`, comes from the replay). Nothing throws.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ScopedIndexes } from '../../src/edge/scoped-indexes.js';
import type { Resumes } from '../../src/edge/resume.js';
import { Sessions } from '../../src/edge/session.js';
import { Subscriptions } from '../../src/edge/subscriptions.js';
import type { SessionState, Transport } from '../../src/edge/transport.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { closeCodeInfo } from '../../src/protocol/close-codes.js';
import { ErrorCode } from '../../src/protocol/messages.js';
import { FUZZ_SEED, frameInput } from '../helpers/frame-fuzz.js';

/** One connection, recording what the session did to it. */
class Recorder implements Transport<number> {
  sent: string[] = [];
  closedWith: number | undefined;
  constructor(private readonly s: SessionState) {}
  state(): SessionState {
    return this.s;
  }
  isOpen(): boolean {
    return this.closedWith === undefined;
  }
  send(_c: number, frame: string | Buffer): void {
    this.sent.push(String(frame));
  }
  deliver(c: number, n: { frame: string | Buffer }): void {
    this.send(c, n.frame);
  }
  join(): void {}
  leave(): void {}
  close(_c: number, code: number): void {
    this.closedWith ??= code;
  }
  bufferedAmount(): number {
    return 0;
  }
}

const REPLIES = new Set(['error', 'pong', 'subscribed', 'unsubscribed']);
const CODES = new Set<string>(Object.values(ErrorCode));

/** Valid requests too, so that sessions reach their limits and the resume-first rule. */
const validFrame = fc.oneof(
  fc.constant('{"type":"ping"}'),
  fc.nat({ max: 9 }).map((i) => `{"type":"subscribe","filter":"user:${i}"}`),
  fc.nat({ max: 9 }).map((i) => `{"type":"unsubscribe","filter":"user:${i}"}`),
  fc.nat({ max: 9 }).map((i) => `{"type":"subscribe","filter":"all","where":{"n":{"gte":${i % 3}}}}`),
  fc.nat({ max: 9 }).map((i) => `{"type":"unsubscribe","filter":"all","where":{"n":{"gte":${i % 3}}}}`),
  fc.array(fc.nat({ max: 9 }), { maxLength: 8 }).map((ids) => JSON.stringify({ type: 'resume', epoch: 'e', offset: '1-0', filters: ids.map((i) => `user:${i}`) })),
);
const frames = fc.array(
  fc.record({ data: fc.oneof({ arbitrary: frameInput, weight: 2 }, { arbitrary: validFrame, weight: 1 }), isBinary: fc.oneof({ arbitrary: fc.constant(false), weight: 5 }, { arbitrary: fc.constant(true), weight: 1 }) }),
  { minLength: 1, maxLength: 14 },
);

describe('a session under hostile frames', () => {
  it('answers every frame with one reply, a documented close, or a started resume (3,000 sequences)', () => {
    const metrics = createMetrics();
    const subscriptions = new Subscriptions(new ScopedIndexes(), metrics, 5);
    let resumesStarted = 0;
    let closes = 0;
    const resumes = { start: () => void resumesStarted++, wake: () => {}, closed: () => {} } as unknown as Resumes;
    const sessions = new Sessions({
      config: { maxInboundPerSecond: 10, maxSubscriptions: 5 },
      metrics,
      subscriptions,
      resumes,
      feed: { epoch: 'e', lastOffset: '1-0' },
      nodeId: 'fuzz',
    });
    fc.assert(
      fc.property(frames, (sequence) => {
        const t = new Recorder(sessions.newState());
        sessions.opened(t, 0);
        expect(JSON.parse(t.sent.shift() ?? '').type).toBe('welcome');
        for (const { data, isBinary } of sequence) {
          if (!t.isOpen()) break; // a closed socket receives nothing more
          const before = resumesStarted;
          sessions.message(t, 0, data, isBinary);
          if (t.closedWith !== undefined) {
            closes++;
            expect(closeCodeInfo(t.closedWith), `close code ${t.closedWith}`).toBeDefined();
            expect(t.sent).toEqual([]);
          } else if (resumesStarted > before) {
            expect(t.sent).toEqual([]);
          } else {
            expect(t.sent).toHaveLength(1);
            const reply = JSON.parse(t.sent.pop() ?? '') as { type: string; code?: string };
            expect(REPLIES.has(reply.type), reply.type).toBe(true);
            if (reply.type === 'error') expect(CODES.has(reply.code ?? ''), reply.code).toBe(true);
          }
        }
        sessions.closed(t.state());
      }),
      { numRuns: 3_000, seed: FUZZ_SEED },
    );
    // The sequences reach the rate limit and resumes; every connection was closed, and no subscription is left behind.
    expect(closes).toBeGreaterThan(0);
    expect(resumesStarted).toBeGreaterThan(0);
    expect(subscriptions.count).toBe(0);
    // Nor a compiled predicate.
    expect(subscriptions.wheres.size).toBe(0);
  });
});
