/** Ending the load generator's worker processes (pool.ts, storm-pool.ts). */
import type { ChildProcess } from 'node:child_process';

export interface WorkerChild {
  child: ChildProcess;
  exited: Promise<void>;
}

/** Asks every live worker to exit (`ask`), SIGKILLs any still running 5 s later; their sockets close with them. */
export async function endWorkers(workers: readonly WorkerChild[], ask: (w: WorkerChild) => void): Promise<void> {
  await Promise.all(
    workers.map(async (w) => {
      if (w.child.exitCode !== null || w.child.signalCode !== null) return;
      ask(w);
      const timer = setTimeout(() => w.child.kill('SIGKILL'), 5000);
      await w.exited;
      clearTimeout(timer);
    }),
  );
}
