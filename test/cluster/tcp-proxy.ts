/**
 * A tiny TCP proxy (node:net) that can simulate a network partition: `blackhole()` stops
 * forwarding in both directions WITHOUT closing anything (each side sees silence, not a reset or
 * a FIN), and new connections are accepted but never forwarded; `restore()` forwards new
 * connections again and destroys the black-holed ones.
 *
 * Limit of a userland proxy: the kernel still ACKs what each side sends to the proxy, so TCP
 * keepalives towards the proxy keep succeeding. Only application-level deadlines (query timeouts,
 * the server's idle_session_timeout) detect the cut, which is what DESIGN §11 relies on.
 */
import net from 'node:net';

interface Pair {
  client: net.Socket;
  upstream: net.Socket | undefined;
  /** Black-holed: nothing flows, nothing is closed, events are ignored. */
  held: boolean;
}

export class TcpProxy {
  private readonly server: net.Server;
  private readonly pairs = new Set<Pair>();
  private holed = false;
  private boundPort = 0;

  constructor(private readonly target: { host: string; port: number }) {
    this.server = net.createServer((socket) => this.accept(socket));
    this.server.on('error', () => undefined);
  }

  /** Listens on 127.0.0.1:`port` (0: any free port). */
  async listen(port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as net.AddressInfo).port;
    return this.boundPort;
  }

  get port(): number {
    return this.boundPort;
  }

  get blackholed(): boolean {
    return this.holed;
  }

  /** Open proxied connections (held or forwarding). */
  get connections(): number {
    return this.pairs.size;
  }

  /** Stops forwarding in both directions without closing any socket. */
  blackhole(): void {
    this.holed = true;
    for (const p of this.pairs) this.hold(p);
  }

  /** Forwards new connections again; the black-holed ones are destroyed (both sides see a reset). */
  restore(): void {
    this.holed = false;
    for (const p of [...this.pairs]) {
      if (!p.held) continue;
      this.pairs.delete(p);
      p.client.destroy();
      p.upstream?.destroy();
    }
  }

  async close(): Promise<void> {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream?.destroy();
    }
    this.pairs.clear();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private hold(p: Pair): void {
    p.held = true;
    p.client.pause();
    p.upstream?.pause();
  }

  private accept(client: net.Socket): void {
    const pair: Pair = { client, upstream: undefined, held: false };
    this.pairs.add(pair);
    client.on('error', () => undefined);
    if (this.holed) {
      // Accepted, never forwarded, never closed.
      this.hold(pair);
      return;
    }
    const upstream = net.connect({ host: this.target.host, port: this.target.port });
    pair.upstream = upstream;
    upstream.on('error', () => undefined);
    const forward = (from: net.Socket, to: net.Socket) => {
      from.on('data', (chunk: Buffer) => {
        if (pair.held) return;
        if (!to.write(chunk)) {
          from.pause();
          to.once('drain', () => {
            if (!pair.held) from.resume();
          });
        }
      });
      from.on('end', () => {
        if (!pair.held) to.end();
      });
      from.on('close', () => {
        if (pair.held) return;
        to.destroy();
        this.pairs.delete(pair);
      });
    };
    forward(client, upstream);
    forward(upstream, client);
  }
}
