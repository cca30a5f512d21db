import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compactCloseAction } from '../../src/protocol/close-action.js';
import { CLOSE_CODES, CloseCode, closeAction, closeClass, closeCodeInfo } from '../../src/protocol/close-codes.js';
import { markdownSection, tableRows } from '../helpers/markdown-table.js';

describe('close codes: the one list', () => {
  it('lists every CloseCode once, in ascending order, with a one-line meaning', () => {
    expect(CLOSE_CODES.map((i) => i.name).sort()).toEqual(Object.keys(CloseCode).sort());
    expect(CLOSE_CODES.map((i) => i.code)).toEqual(Object.values(CloseCode).sort((a, b) => a - b));
    expect(new Set(CLOSE_CODES.map((i) => i.code)).size).toBe(CLOSE_CODES.length);
    for (const i of CLOSE_CODES) {
      expect(CloseCode[i.name]).toBe(i.code);
      expect(i.meaning, i.name).toMatch(/^\S.*\S$/);
      expect(i.meaning, i.name).not.toContain('\n');
      expect(Object.isFrozen(i)).toBe(true);
    }
    expect(Object.isFrozen(CLOSE_CODES)).toBe(true);
  });

  it('keeps the ranges: class from the code, action from the class (standard codes choose their own)', () => {
    for (const i of CLOSE_CODES) {
      expect(closeClass(i.code), i.name).toBe(i.class);
      if (i.class === 'reconnect') expect(i.action, i.name).toBe('reconnect');
      if (i.class === 'do_not_retry') expect(i.action, i.name).toBe('stop');
      expect(closeAction(i.code), i.name).toBe(i.action);
      expect(closeCodeInfo(i.code)).toBe(i);
    }
  });

  it('has the codes issue 14 reserves: an expired token reconnects, another sub stops', () => {
    expect(closeClass(CloseCode.TokenExpired)).toBe('reconnect');
    expect(closeAction(CloseCode.TokenExpired)).toBe('reconnect');
    expect(closeClass(CloseCode.TokenSubjectChanged)).toBe('do_not_retry');
    expect(closeAction(CloseCode.TokenSubjectChanged)).toBe('stop');
  });

  it('judges an unlisted code by its range: 4500–4999 stop, anything else reconnect', () => {
    expect(closeCodeInfo(4100)).toBeUndefined();
    expect(closeAction(4100)).toBe('reconnect');
    expect(closeAction(4499)).toBe('reconnect');
    expect(closeAction(4501)).toBe('stop');
    expect(closeAction(4999)).toBe('stop');
    expect(closeAction(5000)).toBe('reconnect');
    for (const code of [1001, 1011, 1013, 3000, 3999, 0, -1, 1.5, Number.NaN]) expect(closeAction(code), String(code)).toBe('reconnect');
    expect(closeClass(1.5)).toBeUndefined();
    expect(closeClass(3500)).toBeUndefined();
  });
});

describe('README "Close codes" table', () => {
  // Every code the module lists, and no other, with the client's action in its own column.
  const rows = tableRows(markdownSection(readFileSync('README.md', 'utf8'), 'Close codes'));
  const byCode = new Map(rows.map((r) => [Number(/^\d+/.exec(r[0] ?? '')?.[0]), r]));

  it('has a row for every code of close-codes.ts, and none besides', () => {
    expect([...byCode.keys()].sort((a, b) => a - b)).toEqual(CLOSE_CODES.map((i) => i.code));
    expect(byCode.size).toBe(rows.length);
  });

  it('gives each row the module’s name and client action', () => {
    for (const i of CLOSE_CODES) {
      const row = byCode.get(i.code);
      expect(row?.[1], `${i.code} name`).toBe(`\`${i.name}\``);
      expect(row?.[2], `${i.code} client action`).toBe(i.action);
    }
  });

  it("the SDK's compact closeAction (close-action.ts) agrees with the table on every code", () => {
    for (let code = 1000; code <= 4999; code++) expect(compactCloseAction(code), String(code)).toBe(closeAction(code));
  });
});
