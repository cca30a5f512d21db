/**
 * README's "Configuration" table lists every setting of the schema, with its environment variable
 * and YAML key, and nothing else: a new setting without a row (or a renamed one) fails here.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENV_NAMES, type ConfigKey } from '../../src/config/schema.js';
import { markdownSection, tableRows } from '../helpers/markdown-table.js';

describe('README "Configuration" table', () => {
  const rows = tableRows(markdownSection(readFileSync('README.md', 'utf8'), 'Configuration')).filter((r) => r.length === 5);
  const byEnv = new Map(rows.map((r) => [r[0] ?? '', r]));

  it('has one row per setting, naming its environment variable and YAML key', () => {
    for (const [key, env] of Object.entries(ENV_NAMES) as [ConfigKey, string][]) {
      const row = byEnv.get(`\`${env}\``);
      expect(row, `a row for ${env}`).toBeDefined();
      expect(row?.[1], `${env}'s YAML key`).toBe(`\`${key}\``);
      expect(row?.[4]?.length ?? 0, `${env}'s meaning`).toBeGreaterThan(5);
    }
  });

  it('has no row for a setting the schema lacks, and none twice', () => {
    const known = new Set(Object.values(ENV_NAMES).map((e) => `\`${e}\``));
    expect(rows.map((r) => r[0]).filter((e) => !known.has(e ?? ''))).toEqual([]);
    expect(byEnv.size).toBe(rows.length);
  });
});
