import { describe, expect, it } from 'vitest';
import { DEFAULT_YOUNG_GENERATION_FLAG, youngGenerationFor } from '../../src/v8-defaults.js';

describe('youngGenerationFor', () => {
  it("is notifier's default when the operator set no young-generation flag", () => {
    expect(youngGenerationFor('', [])).toEqual({ source: 'notifier', flags: DEFAULT_YOUNG_GENERATION_FLAG });
    expect(youngGenerationFor('--max-old-space-size=512 --enable-source-maps', ['--import', 'x.js'])).toMatchObject({ source: 'notifier' });
  });

  it.each([
    ['--max-semi-space-size=16', [], '--max-semi-space-size=16'],
    ['--max_semi_space_size=4 --max-old-space-size=512', [], '--max_semi_space_size=4'],
    ['', ['--min-semi-space-size=2'], '--min-semi-space-size=2'],
    ['', ['--semi-space-growth-factor=2'], '--semi-space-growth-factor=2'],
    ['--max-semi-space-size=8', ['--min-semi-space-size=2'], '--max-semi-space-size=8 --min-semi-space-size=2'],
  ])('leaves it to the operator: NODE_OPTIONS %j, node arguments %j', (nodeOptions, execArgv, flags) => {
    expect(youngGenerationFor(nodeOptions, execArgv)).toEqual({ source: 'operator', flags });
  });
});
