// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Layering (DESIGN §10): modules import downward only.
 *   cli/roles → listener, edge, migrate → bus → protocol, config, observability, util
 *   client → protocol only
 */
const layer = (files, forbidden, why) => ({
  files,
  rules: {
    'no-restricted-imports': [
      'error',
      { patterns: forbidden.map((dir) => ({ group: [`**/${dir}/*`, `../${dir}/*`, `./${dir}/*`], message: why })) },
    ],
  },
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', Buffer: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', URL: 'readonly', TextDecoder: 'readonly', NodeJS: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly', fetch: 'readonly', WebSocket: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  layer(['src/protocol/**', 'src/config/**', 'src/util/**', 'src/observability/**'], ['bus', 'listener', 'edge', 'client', 'migrate'], 'shared pure modules import nothing above them'),
  layer(['src/bus/**'], ['listener', 'edge', 'client', 'migrate'], 'the bus sits below the roles'),
  layer(['src/listener/**'], ['edge', 'client'], 'the listener does not depend on the edge'),
  layer(['src/edge/**'], ['listener', 'client'], 'the edge does not depend on the listener'),
  layer(['src/client/**'], ['bus', 'listener', 'edge', 'config', 'observability', 'migrate'], 'the client SDK depends on protocol/ alone'),
);
