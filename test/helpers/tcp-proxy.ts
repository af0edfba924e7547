import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy that can black-hole traffic: what a failover or a
 * dropped NAT entry does to a connection. Black-holed connections stay open
 * and silent for good (nothing forwarded, nothing closed); new connections
 * are accepted and then ignored until `restore()`.
 */
export interface BlackHoleProxy {
  /** host:port of the proxy. */
  readonly host: string;
  readonly port: number;
  blackhole(): void;
  /** New connections are forwarded again; the black-holed ones stay dead. */
  restore(): void;
  close(): Promise<void>;
}

/** `listenPort`: where the proxy listens (a free loopback port when 0, the default). */
export async function startBlackHoleProxy(
  target: { host: string; port: number },
  listenPort = 0,
): Promise<BlackHoleProxy> {
  let holing = false;
  const dead = new WeakSet<Socket>();
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };
  const server: Server = createServer((client) => {
    track(client);
    if (holing) {
      dead.add(client);
      client.on('data', () => undefined);
      return;
    }
    const upstream = connect(target.port, target.host);
    track(upstream);
    const pipe = (from: Socket, to: Socket): void => {
      from.on('data', (chunk: Buffer) => {
        if (!dead.has(from)) to.write(chunk);
      });
      from.on('close', () => {
        if (!dead.has(from)) to.destroy();
      });
    };
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(listenPort, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    host: '127.0.0.1',
    port,
    blackhole() {
      holing = true;
      for (const socket of sockets) dead.add(socket);
    },
    restore() {
      holing = false;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
