import { describe, expect, it } from 'vitest';
import { maskUrl } from '../../src/util/mask-url.js';

describe('maskUrl', () => {
  it.each([
    ['postgresql://user:secret@db:5432/app', 'postgresql://user:***@db:5432/app'],
    ['redis://:secret@cache:6379/0', 'redis://:***@cache:6379/0'],
    ['rediss://default:p%40ss@cache:6380', 'rediss://default:***@cache:6380'],
  ])('hides the password of %s', (input, expected) => {
    expect(maskUrl(input)).toBe(expected);
  });

  it('leaves a URL without a password alone', () => {
    expect(maskUrl('postgresql://postgres@localhost:5432/postgres')).toBe('postgresql://postgres@localhost:5432/postgres');
    expect(maskUrl('redis://cache:6379')).toBe('redis://cache:6379');
  });

  it('masks the password of something that does not parse as a URL', () => {
    const masked = maskUrl('postgres://user:se cret@host name/db');
    expect(masked).not.toContain('se cret');
    expect(masked).toBe('postgres://user:***@host name/db');
  });
});
