import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout; every line has `role` so one stream can hold several roles (standalone). */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...base }, timestamp: pino.stdTimeFunctions.isoTime });
}
