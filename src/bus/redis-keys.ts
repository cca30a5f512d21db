/**
 * Redis names of one notifier cluster. The `{prefix}` hash tag keeps every key in one Cluster
 * slot (the publish script touches several), and lets two clusters share one Redis.
 */
export interface RedisKeys {
  stream: string;
  epoch: string;
  seenPrefix: string;
  channel: string;
  heartbeat: string;
}

export function redisKeys(prefix: string): RedisKeys {
  const tag = `{${prefix}}`;
  return { stream: `${tag}:stream`, epoch: `${tag}:epoch`, seenPrefix: `${tag}:seen:`, channel: `${tag}:events`, heartbeat: `${tag}:heartbeat` };
}
