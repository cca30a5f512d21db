/**
 * CPU time of the processes in a run, from /proc/<pid>/stat (utime + stime), grouped by role:
 * "how busy was each process over this window", in % of one core (200 % = both cores here).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    const n = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim());
    clockTicks = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clockTicks;
}

interface Stat {
  ppid: number;
  /** utime + stime, in seconds. */
  cpu: number;
}

function stat(pid: number): Stat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may contain spaces: split after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const tps = ticksPerSecond();
    return { ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / tps };
  } catch {
    return undefined;
  }
}

interface MachineTimes {
  /** user + nice + system: time that processes account for (utime + stime). */
  processes: number;
  /** irq + softirq: kernel work on no process' bill, e.g. loopback TCP delivery. */
  interrupts: number;
  steal: number;
}

/** CPU seconds every core of this machine spent, by kind, since boot (/proc/stat). */
export function machineTimes(): MachineTimes {
  const first = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = first.trim().split(/\s+/).slice(1).map(Number);
  const t = ticksPerSecond();
  const at = (i: number) => v[i] ?? 0;
  return { processes: (at(0) + at(1) + at(2)) / t, interrupts: (at(5) + at(6)) / t, steal: at(7) / t };
}

/** CPU seconds used so far by `pid` (0 if it is gone). */
export function cpuSeconds(pid: number): number {
  return stat(pid)?.cpu ?? 0;
}

/** Pids whose parent is `ppid` (e.g. PostgreSQL backends of a postmaster). */
export function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if (stat(Number(name))?.ppid === ppid) out.push(Number(name));
  }
  return out;
}

/** The first process whose command line contains every one of `parts` (e.g. ['redis-server', ':6379']). */
export function findProcess(parts: string[]): number | undefined {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (parts.every((p) => cmd.includes(p))) return Number(name);
    } catch {
      // gone
    }
  }
  return undefined;
}

/**
 * Measures CPU over a window for named groups of pids. A group's pids are listed at start and
 * at stop (processes that appear in between, such as new PostgreSQL backends, count from when
 * they are first seen; those that exit in between count until the last sample taken).
 */
export class CpuMeter {
  private readonly first = new Map<string, Map<number, number>>();
  private readonly last = new Map<string, Map<number, number>>();
  private startedAt = 0;
  private machineStart: MachineTimes = { processes: 0, interrupts: 0, steal: 0 };
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly groups: Record<string, () => number[]>) {}

  start(): void {
    this.startedAt = performance.now();
    this.machineStart = machineTimes();
    for (const name of Object.keys(this.groups)) {
      this.first.set(name, new Map());
      this.last.set(name, new Map());
    }
    this.sample(true);
    // Sample every 500 ms so short-lived processes (pgbench's backends) are counted.
    this.timer = setInterval(() => this.sample(), 500);
  }

  /**
   * % of one core per group over the window, plus from /proc/stat: `other` (processes outside
   * the groups), `irq` (interrupts and softirqs, mostly loopback TCP here; no process is billed),
   * `steal` (when present), and `machine`, the sum of all (100 × cores when saturated).
   */
  stop(): Record<string, number> {
    clearInterval(this.timer);
    this.sample();
    const seconds = (performance.now() - this.startedAt) / 1000;
    const end = machineTimes();
    const out: Record<string, number> = {};
    for (const name of Object.keys(this.groups)) {
      const first = this.first.get(name) ?? new Map<number, number>();
      const last = this.last.get(name) ?? new Map<number, number>();
      let used = 0;
      for (const [pid, end] of last) used += end - (first.get(pid) ?? end);
      out[name] = (used / seconds) * 100;
    }
    const pct = (k: keyof MachineTimes) => ((end[k] - this.machineStart[k]) / seconds) * 100;
    const groups = Object.values(out).reduce((a, b) => a + b, 0);
    out['other'] = Math.max(0, pct('processes') - groups);
    out['irq'] = pct('interrupts');
    if (pct('steal') >= 1) out['steal'] = pct('steal');
    out['machine'] = pct('processes') + pct('interrupts') + pct('steal');
    return out;
  }

  private sample(initial = false): void {
    for (const [name, list] of Object.entries(this.groups)) {
      const first = this.first.get(name);
      const last = this.last.get(name);
      if (!first || !last) continue;
      for (const pid of list()) {
        const s = stat(pid);
        if (!s) continue;
        // A process first seen mid-window started in it (a new backend, pgbench): count all of its CPU.
        if (!first.has(pid)) first.set(pid, initial ? s.cpu : 0);
        last.set(pid, s.cpu);
      }
    }
  }
}

/** `notifier_…` metrics page values (first sample of each name). */
export function metricValue(text: string, name: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Sum of every sample of a metric (all label sets). */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const l of text.split('\n')) {
    if (l.startsWith(`${name} `) || l.startsWith(`${name}{`)) sum += Number(l.slice(l.lastIndexOf(' ') + 1));
  }
  return sum;
}
