/**
 * Loads the configuration once, at start: optional YAML file, then environment, then CLI
 * overrides; validates everything and reports every problem, each naming the key and its source.
 *
 * Imports: config/ and util/ only (below every role).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { maskUrl } from '../util/mask-url.js';
import { configSchema, ENV_NAMES, type Config, type ConfigKey } from './schema.js';

/** Thrown for any invalid configuration; the CLI prints `message` and exits with code 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Settings that were renamed: setting the old name is an error that names the new one. */
const RENAMED: Record<string, string> = {
  NOTIFIER_SHUTDOWN_GRACE_MS: 'NOTIFIER_DRAIN_SECONDS (in seconds, e.g. 10)',
};

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
  file?: string;
  /** Highest precedence (command-line flags such as --log-level). */
  overrides?: Partial<Record<ConfigKey, unknown>>;
}

type Source = 'env' | 'file' | 'flag';

export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  const raw: Record<string, unknown> = {};
  const sources = new Map<string, Source>();

  if (opts.file !== undefined) {
    for (const [k, v] of Object.entries(readYamlFile(opts.file))) {
      raw[k] = v;
      sources.set(k, 'file');
    }
  }
  for (const [key, name] of Object.entries(ENV_NAMES) as [ConfigKey, string][]) {
    const v = env[name];
    if (v !== undefined) {
      raw[key] = v;
      sources.set(key, 'env');
    }
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) {
    if (v === undefined) continue;
    raw[k] = v;
    sources.set(k, 'flag');
  }

  const renamed = Object.entries(RENAMED).filter(([old]) => env[old] !== undefined);
  if (renamed.length > 0) throw new ConfigError(renamed.map(([old, now]) => `${old} (environment): renamed; use ${now}`));

  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(describeIssues(result.error, raw, sources, opts.file));
  return Object.freeze(result.data);
}

function readYamlFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`--config ${file}: cannot read file (${(err as Error).message})`]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError([`--config ${file}: not valid YAML (${(err as Error).message})`]);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError([`--config ${file}: expected a mapping of settings at the top level`]);
  }
  return doc as Record<string, unknown>;
}

function describeIssues(
  error: z.ZodError,
  raw: Record<string, unknown>,
  sources: Map<string, Source>,
  file: string | undefined,
): string[] {
  return error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return `${file ?? 'config file'}: unknown setting(s) ${issue.keys.join(', ')} (see the configuration table in README.md)`;
    }
    const key = String(issue.path[0] ?? '');
    const source = sources.get(key);
    const label =
      source === 'env'
        ? `${ENV_NAMES[key as ConfigKey]} (environment)`
        : source === 'file'
          ? `${key} (in ${file})`
          : source === 'flag'
            ? `${key} (command-line flag)`
            : `${key} / ${ENV_NAMES[key as ConfigKey] ?? key}`;
    const value = key in raw ? `; got ${JSON.stringify(maskSecrets(key, raw[key]))}` : '';
    const sub = issue.path.length > 1 ? `[${issue.path.slice(1).join('.')}]` : '';
    return `${label}${sub}: ${issue.message}${value}`;
  });
}

/** Values quoted in an error: URLs without their password, never the JWT secret, no PEM text. */
function maskSecrets(key: string, value: unknown): unknown {
  if (key === 'jwtSecret') return '***';
  if (key === 'jwtPublicKey') return typeof value === 'string' ? `(${value.length} characters)` : '***';
  return (key === 'databaseUrl' || key === 'redisUrl' || key === 'jwksUrl') && typeof value === 'string' ? maskUrl(value) : value;
}
