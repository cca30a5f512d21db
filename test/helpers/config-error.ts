/** Config tests: load a configuration that must fail, and get its ConfigError. */
import { expect } from 'vitest';
import { ConfigError, loadConfig, type LoadOptions } from '../../src/config/load-config.js';

/** Loads expecting failure; returns the ConfigError. */
export function configError(opts: LoadOptions): ConfigError {
  try {
    loadConfig(opts);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected loadConfig to throw a ConfigError');
}
