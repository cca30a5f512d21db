/**
 * What `notifier start` prints once it runs on its embedded PostgreSQL: where applications send
 * notifications, where to watch them, and a command that sends one.
 */
import { relative, resolve, sep } from 'node:path';
import { DEFAULT_DATA_DIR } from '../config/schema.js';

export interface BannerInput {
  databaseUrl: string;
  /** Absolute. */
  dataDir: string;
  edgePort: number;
  livePage: boolean;
  /** NOTIFIER_AUTH in effect (start defaults to none). */
  auth: 'jwt' | 'none';
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
  return [
    '',
    rule,
    `  notifier is running, with its own PostgreSQL (data in ${shownDir})`,
    '',
    `  DATABASE_URL  ${b.databaseUrl}`,
    '                (applications send their notifications to this database)',
    ...(b.livePage ? [`  Live page     http://localhost:${b.edgePort}/`] : []),
    `  WebSocket     ws://localhost:${b.edgePort}/ws  ${b.auth === 'jwt' ? '(clients present a token: NOTIFIER_AUTH=jwt)' : '(no authentication: NOTIFIER_AUTH=none)'}`,
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
