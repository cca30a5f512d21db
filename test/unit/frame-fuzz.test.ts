import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, parseClientFrame } from '../../src/protocol/messages.js';
import { FUZZ_SEED, PARSER_ERROR_CODES, checkBothForms, checkFrame, frameInput } from '../helpers/frame-fuzz.js';

describe('parseClientFrame under fast-check (issue 14 §8; 100,000 cases: bench/fuzz/frames.ts)', () => {
  it('never throws: every input is a valid request or a documented error (10,000 cases, fixed seed)', () => {
    fc.assert(fc.property(frameInput, (input) => void checkFrame(input)), { numRuns: 10_000, seed: FUZZ_SEED });
  });

  it('gives the same answer for a frame as text and as UTF-8 bytes', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 100 }), (s) => checkBothForms(s)), { numRuns: 1_000, seed: FUZZ_SEED });
    checkBothForms('{"type":"subscribe","filter":"user:\\ud800"}');
  });

  it('documents every code the parser returns in ErrorCode', () => {
    for (const code of PARSER_ERROR_CODES) expect(Object.values(ErrorCode)).toContain(code);
  });

  it('answers the hostile classics with an error, not an exception', () => {
    const code = (input: string) => {
      const r = parseClientFrame(input);
      return r.ok ? r.message.type : r.code;
    };
    expect(code('{"type":"__proto__"}')).toBe('unknown_type');
    expect(code('{"__proto__":{"type":"ping"}}')).toBe('invalid_message');
    expect(code('{"type":"subscribe","filter":"user:1","__proto__":{"filter":"all"}}')).toBe('subscribe');
    expect(code('{"type":"subscribe","filter":{"toString":"all"}}')).toBe('invalid_filter');
    expect(code(`{"type":"subscribe","filter":${'['.repeat(50_000)}${']'.repeat(50_000)}}`)).toBe('invalid_filter');
    expect(code('{"type":"resume","epoch":"e","offset":"99999999999999999-0","filters":[]}')).toBe('invalid_resume');
    expect(code('{"type":"resume","epoch":"e","offset":1e400,"filters":[]}')).toBe('invalid_resume');
    expect(code('{"type":"subscribe","filter":"user:\\u0000"}')).toBe('invalid_filter');
    expect(code('\u0000')).toBe('invalid_json');
  });
});
