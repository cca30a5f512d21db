/**
 * The client SDK against a real edge (in-process, NOTIFIER_AUTH=jwt, on an in-memory bus): the
 * token in the subprotocol header, fetched for every connect; subscribe and receive; the edge
 * stopped (1012) while notifications keep coming, another edge started behind the same address; the
 * client resumes and gets every notification once, in order. A forbidden filter is reported.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { PublishItem } from '../../src/bus/bus.js';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { NotifierClient, type ClientError, type Notification } from '../../src/client/index.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createEdgeAuthenticator } from '../../src/edge/auth/edge-authenticator.js';
import { Edge } from '../../src/edge/edge.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { envelopeFromValue } from '../../src/protocol/envelope.js';
import { frameHead } from '../../src/protocol/frame.js';
import { JWT_ENV, mintToken } from '../helpers/tokens.js';

const edges: Edge[] = [];
const clients: NotifierClient[] = [];
afterEach(async () => {
  clients.splice(0).forEach((c) => c.close());
  for (const e of edges.splice(0)) await e.stop();
});

async function startEdge(bus: MemoryBus, port = 0): Promise<Edge> {
  const config = loadConfig({ env: { PORT: String(port), HOST: '127.0.0.1', NOTIFIER_DRAIN_SECONDS: '0', ...JWT_ENV } });
  const logger = pino({ level: 'silent' });
  const edge = new Edge({ config, bus, logger, metrics: createMetrics(), authenticator: await createEdgeAuthenticator(config, logger) });
  await edge.start();
  edges.push(edge);
  return edge;
}

/** A TCP forwarder in front of the edges (a load balancer's stand-in): the client's URL stays, the edge behind it changes. */
async function forwarder(): Promise<{ port: number; target: number; close: () => void; cut: () => void }> {
  const open = new Set<Socket>();
  const f = { port: 0, target: 0, close: () => (f.cut(), server.close()), cut: () => open.forEach((s) => s.destroy()) };
  const server = createServer((inbound) => {
    open.add(inbound);
    inbound.on('close', () => open.delete(inbound));
    const outbound = connect(f.target, '127.0.0.1');
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  f.port = (server.address() as AddressInfo).port;
  return f;
}

function item(i: number, entityType = 'thing'): PublishItem {
  const { envelope, keys } = envelopeFromValue('thing_changed', { entity_type: entityType, entity_id: i }, new Date());
  return { id: `id-${i}-${Math.random()}`, head: frameHead(envelope), keys, notificationType: 'thing_changed', sourceTime: Date.now() };
}

async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('NotifierClient against a real edge', () => {
  it('resumes on a restarted edge and delivers every notification once, in order', async () => {
    const bus = new MemoryBus();
    const edge1 = await startEdge(bus);
    const lb = await forwarder();
    lb.target = edge1.port;
    const port = lb.port;
    let tokens = 0;
    let sockets = 0;
    class CountingWebSocket extends WebSocket {
      constructor(url: string, protocols: string[]) {
        super(url, protocols);
        sockets++;
      }
    }
    const client = new NotifierClient({
      url: `ws://127.0.0.1:${port}/ws`,
      WebSocket: CountingWebSocket,
      token: () => (tokens++, mintToken({ sub: 'u1', claim: { filters: ['entity_type:thing'] } })),
      reconnect: { minMs: 50, maxMs: 200 },
    });
    clients.push(client);
    const states: string[] = [];
    const errors: ClientError[] = [];
    const resets: unknown[] = [];
    const welcomes: unknown[] = [];
    client.on('state', (s, info) => states.push(info ? `${s}:${info.code}` : s));
    client.on('error', (e) => errors.push(e));
    client.on('reset', (r) => resets.push(r));
    client.on('welcome', (w) => welcomes.push(w));
    const got: Notification[] = [];
    client.subscribe('entity_type:thing', (n) => got.push(n));
    client.subscribe('all', () => {
      throw new Error('never: all is forbidden');
    });

    await until(() => errors.some((e) => e.kind === 'forbidden'), 'forbidden');
    expect(errors).toEqual([{ kind: 'forbidden', filter: 'all', message: 'the token does not allow all' }]);
    expect(welcomes[0]).toMatchObject({ user_id: 'u1', expires_at: expect.any(String) });

    await bus.publish([1, 2, 3].map((i) => item(i)));
    await bus.publish([item(100, 'other')]);
    await until(() => got.length === 3, 'the first three');

    // The edge goes away (1012); notifications keep coming; another edge takes its place behind the address.
    await edge1.stop();
    edges.splice(edges.indexOf(edge1), 1);
    await until(() => states.includes('connecting:1012'), 'the 1012 close');
    await bus.publish([4, 5, 6].map((i) => item(i)));
    lb.target = (await startEdge(bus)).port;
    await until(() => got.length === 6, 'the replay');
    await bus.publish([7, 8].map((i) => item(i)));
    await until(() => got.length === 8, 'live after the replay');

    // The connection cut without a close frame (1006), with notifications published around it.
    const welcomed = welcomes.length;
    lb.cut();
    await bus.publish([9, 10].map((i) => item(i)));
    await until(() => welcomes.length > welcomed && got.length === 10, 'the resume after the cut');
    await bus.publish([11].map((i) => item(i)));
    await until(() => got.length === 11, 'live after the cut');

    expect(got.map((n) => n.entity_id)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(new Set(got.map((n) => n.offset)).size).toBe(11);
    expect(resets).toEqual([]);
    expect(tokens).toBe(sockets); // token() for every connect
    expect(welcomes.length).toBeGreaterThanOrEqual(3);
    expect(states[0]).toBe('connecting');
    expect(states.at(-1)).toBe('connected');
    expect(errors.filter((e) => e.kind !== 'forbidden')).toEqual([]);
    lb.close();
  });
});
