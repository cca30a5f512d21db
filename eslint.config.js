// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Layering (DESIGN §10): modules import downward only.
 *   cli/roles → listener, edge, migrate, embedded, notify → bus → protocol, config, observability, util
 *   client → protocol only
 *   react → client, protocol (and the optional peer `react`)
 */
const layer = (files, forbidden, why, packages = []) => ({
  files,
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          ...forbidden.map((dir) => ({ group: [`**/${dir}/*`, `../${dir}/*`, `./${dir}/*`], message: why })),
          ...packages.map((name) => ({ group: [name], message: why })),
        ],
      },
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
  layer(['src/protocol/**', 'src/config/**', 'src/util/**', 'src/observability/**'], ['bus', 'listener', 'edge', 'client', 'react', 'migrate', 'embedded', 'notify'], 'shared pure modules import nothing above them'),
  layer(['src/bus/**'], ['listener', 'edge', 'client', 'migrate', 'embedded', 'notify'], 'the bus sits below the roles'),
  layer(['src/listener/**'], ['edge', 'client', 'embedded', 'notify'], 'the listener does not depend on the edge'),
  layer(['src/edge/**'], ['listener', 'client', 'embedded', 'notify'], 'the edge depends on neither the listener nor PostgreSQL (roles.ts hands it `send`)', ['pg']),
  layer(['src/embedded/**'], ['bus', 'listener', 'edge', 'client', 'migrate', 'notify'], 'the embedded PostgreSQL knows nothing of the roles'),
  layer(['src/notify/**'], ['bus', 'listener', 'edge', 'client', 'migrate'], '`notifier notify` talks to PostgreSQL only'),
  layer(['src/client/**'], ['bus', 'listener', 'edge', 'config', 'observability', 'migrate', 'react'], 'the client SDK depends on protocol/ alone', ['react', 'react-dom']),
  layer(['src/react/**'], ['bus', 'listener', 'edge', 'config', 'observability', 'migrate', 'embedded', 'notify', 'util'], 'the React hooks depend on client/ and protocol/ alone'),
);
