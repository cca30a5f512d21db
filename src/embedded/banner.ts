/**
 * What `notifier start` prints once it runs on its embedded PostgreSQL: where applications send
 * notifications, where to watch them and whether that needs a token (NOTIFIER_AUTH), and a
 * command that sends one. Names settings, never a secret or a key.
 */
import { relative, resolve, sep } from 'node:path';
import { DEFAULT_DATA_DIR } from '../config/schema.js';

/** How clients authenticate (NOTIFIER_AUTH; `start` defaults to none). */
export type BannerAuth =
  | { mode: 'none' }
  | { mode: 'jwt'; algorithms: readonly string[]; keySource: 'secret' | 'public-key' | 'jwks' };

export interface BannerInput {
  databaseUrl: string;
  /** Absolute. */
  dataDir: string;
  edgePort: number;
  livePage: boolean;
  auth: BannerAuth;
}

const KEY_SOURCE_SETTING = { secret: 'NOTIFIER_JWT_SECRET', 'public-key': 'NOTIFIER_JWT_PUBLIC_KEY', jwks: 'NOTIFIER_JWKS_URL' } as const;

/** The WebSocket line's note, and what follows it: which auth mode is in effect, in every case. */
function authLines(auth: BannerAuth): { note: string; more: string[] } {
  if (auth.mode === 'none') return { note: '(no authentication: NOTIFIER_AUTH=none)', more: [] };
  return {
    note: `(tokens required: NOTIFIER_AUTH=jwt, ${auth.algorithms.join('/')} from ${KEY_SOURCE_SETTING[auth.keySource]})`,
    more: ['                (?token=…, Authorization: Bearer …, or Sec-WebSocket-Protocol: notifier.v1, bearer.…)'],
  };
}

const EXAMPLE_CHANNEL = 'execution_status_changed';
const EXAMPLE_PAYLOAD = '{"entity_type":"execution","entity_id":123}';

export function embeddedBanner(b: BannerInput): string {
  const fromHere = relative(process.cwd(), b.dataDir);
  const shownDir = fromHere !== '' && !fromHere.startsWith(`..${sep}`) && fromHere !== '..' ? fromHere : b.dataDir;
  // `notify` finds the database through the data directory: say which one when it is not the default.
  const env = b.dataDir === resolve(DEFAULT_DATA_DIR) ? '' : `NOTIFIER_DATA_DIR=${b.dataDir} `;
  const sql = `SELECT pg_notify('${EXAMPLE_CHANNEL}', '${EXAMPLE_PAYLOAD}')`.replaceAll('"', '\\"');
  const rule = '─'.repeat(78);
  const auth = authLines(b.auth);
  return [
    '',
    rule,
    `  notifier is running, with its own PostgreSQL (data in ${shownDir})`,
    '',
    `  DATABASE_URL  ${b.databaseUrl}`,
    '                (applications send their notifications to this database)',
    ...(b.livePage ? [`  Live page     http://localhost:${b.edgePort}/`] : []),
    `  WebSocket     ws://localhost:${b.edgePort}/ws  ${auth.note}`,
    ...auth.more,
    '',
    '  Send a test notification from another terminal, in this directory:',
    `    ${env}npx notifier notify ${EXAMPLE_CHANNEL} '${EXAMPLE_PAYLOAD}'`,
    '  or with psql:',
    `    psql '${b.databaseUrl}' -c "${sql}"`,
    '',
    `  Ctrl-C stops notifier and then its PostgreSQL; the data stays in ${shownDir}.`,
    rule,
    '',
  ].join('\n');
}
