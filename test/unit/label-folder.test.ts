import { describe, expect, it } from 'vitest';
import { LabelFolder, OTHER } from '../../src/observability/label-folder.js';

describe('LabelFolder', () => {
  it('keeps configured values, folds the rest into other, one child per folded value', () => {
    const made: string[] = [];
    const f = new LabelFolder(['a', 'b'], (label) => {
      made.push(label);
      return { label };
    });
    expect(f.for('a').label).toBe('a');
    expect(f.for('x').label).toBe(OTHER);
    expect(f.for('y')).toBe(f.for('x'));
    expect(f.for('a')).toBe(f.for('a'));
    for (let i = 0; i < 1000; i++) f.for(`user-${i}`);
    expect(made).toEqual(['a', OTHER]);
    expect(f.fold('b')).toBe('b');
    expect(f.fold('c')).toBe(OTHER);
  });
});
