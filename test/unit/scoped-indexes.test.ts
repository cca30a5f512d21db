import { describe, expect, it } from 'vitest';
import { ScopedIndexes } from '../../src/edge/scoped-indexes.js';

describe('ScopedIndexes', () => {
  it('keeps scopes apart: the same filter sets are different topics in each scope', () => {
    const indexes = new ScopedIndexes();
    const plain = indexes.unscoped.acquire(['all']);
    const acme = indexes.of('acme').acquire(['all']);
    const globex = indexes.of('globex').acquire(['user:1', 'entity_type:x']);
    expect(plain).toEqual(['all']);
    expect(acme).toEqual(['\u001eacme\u001eall']);
    expect(globex[0]).toBe('\u001eglobex\u001eentity_type:x');
    expect(globex[1]?.startsWith('\u001eglobex\u001euser:1\n')).toBe(true);
    expect(indexes.of('globex').topicsOf(['user:1', 'entity_type:x'])).toEqual(globex);
    expect(indexes.scopes).toBe(2);
    expect(indexes.size).toBe(4);
  });

  it('routes a notification through its own scope only, with the exclusions of each prefix', () => {
    const indexes = new ScopedIndexes();
    const topics = indexes.of('acme').acquire(['entity_type:x', 'user:1']);
    expect([...indexes.of('acme').topicsFor(['entity_type:x', 'user:1'])]).toEqual([topics[0]]);
    expect([...indexes.of('acme').topicsFor(['user:1'])]).toEqual([topics[1]]);
    expect(indexes.find('globex')).toBeUndefined();
    expect([...indexes.unscoped.topicsFor(['entity_type:x'])]).toEqual([]);
  });

  it('drops a scope’s index once nothing routes through it', () => {
    const indexes = new ScopedIndexes();
    const topics = indexes.of('acme').acquire(['all', 'user:1']);
    const more = indexes.of('acme').acquire(['entity_type:a', 'user:2']);
    indexes.of('acme').release(topics);
    indexes.prune('acme');
    expect(indexes.scopes).toBe(1);
    indexes.of('acme').release(more);
    indexes.prune('acme');
    expect(indexes.scopes).toBe(0);
    expect(indexes.find('acme')).toBeUndefined();
    indexes.prune(undefined);
    expect(indexes.unscoped.size).toBe(0);
  });
});
