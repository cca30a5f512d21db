/**
 * Checks the load generator's SSE parser (loadgen/sse-client.ts): random streams of notification
 * events (`id:` + `data:`), control events (`event: welcome`, `retry:`) and heartbeats (`: hb`),
 * chunk-encoded at random sizes and then cut into random reads, with and without chunking, must
 * count exactly the notification events, and the sampled payloads must be whole. Fixed seed.
 *
 *   npx tsx bench/fuzz/sse-stream.ts [streams] [seed]
 *
 * Prints one line; exits 1 at the first stream counted wrong.
 */
import { Dechunker, EventCounter } from '../loadgen/sse-client.js';

const streams = Number(process.argv[2] ?? 2000);
let seed = Number(process.argv[3] ?? 15);
const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const upTo = (n: number): number => 1 + Math.floor(rnd() * n);

function stream(): { body: string; notifications: number } {
  const parts: string[] = ['retry: 2000\n\n', 'event: welcome\nid: e/0-0\ndata: {"type":"welcome"}\n\n'];
  let notifications = 0;
  for (let k = 0, n = upTo(60); k < n; k++) {
    const r = rnd();
    if (r < 0.15) parts.push(': hb\n\n');
    else if (r < 0.2) parts.push(':\n');
    else {
      notifications++;
      parts.push(`id: e/1-${k}\ndata: {"seq":${k},"pad":"${'x'.repeat(upTo(300))}","sent_at":12.5}\n\n`);
    }
  }
  return { body: parts.join(''), notifications };
}

function chunked(body: string): Buffer {
  let out = '';
  for (let i = 0; i < body.length; ) {
    const part = body.slice(i, i + upTo(80));
    out += `${part.length.toString(16)}\r\n${part}\r\n`;
    i += part.length;
  }
  return Buffer.from(out, 'latin1');
}

function count(bytes: Buffer, dechunk: boolean): { events: number; whole: boolean } {
  let events = 0;
  let whole = true;
  const counter = new EventCounter(true, (payload) => {
    events++;
    const text = payload?.toString('latin1') ?? '';
    if (!/(^|\n)id: e\/1-/.test(text) || !text.endsWith('"sent_at":12.5}\n')) whole = false;
  });
  const sink = dechunk ? new Dechunker((v) => counter.feed(v)) : counter;
  for (let i = 0; i < bytes.length; ) {
    const n = upTo(40);
    sink.feed(bytes.subarray(i, i + n));
    i += n;
  }
  return { events, whole };
}

const started = Date.now();
for (let s = 0; s < streams; s++) {
  const { body, notifications } = stream();
  for (const [bytes, dechunk] of [[chunked(body), true], [Buffer.from(body, 'latin1'), false]] as const) {
    const got = count(bytes, dechunk);
    if (got.events !== notifications || !got.whole) {
      console.log(JSON.stringify({ bench: 'fuzz/sse-stream', stream: s, chunked: dechunk, expected: notifications, ...got }));
      process.exit(1);
    }
  }
}
console.log(JSON.stringify({ bench: 'fuzz/sse-stream', streams, failures: 0, ms: Date.now() - started }));
