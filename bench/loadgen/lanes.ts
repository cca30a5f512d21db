/**
 * Runs `count` tasks with at most `concurrency` in flight: each lane starts the next task as soon
 * as its previous one settles (connection handshakes in the load-generator workers).
 */
export async function inLanes(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}
