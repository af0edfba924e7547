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
  const { sockets, track } = socketSet();
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
  const port = await listenLoopback(server, listenPort);
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
    close: () => closeAll(server, sockets),
  };
}

/**
 * A loopback TCP proxy that can hold what the server sends: while held, its
 * replies are kept (in order) instead of forwarded, and `release()` passes
 * them on. The connections stay up: to the client the server is only slow
 * (a Kafka broker that takes its time to acknowledge).
 */
export interface HoldingProxy {
  readonly host: string;
  readonly port: number;
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

export async function startHoldingProxy(target: { host: string; port: number }): Promise<HoldingProxy> {
  let holding = false;
  const held: { to: Socket; chunk: Buffer }[] = [];
  const { sockets, track } = socketSet();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    track(client);
    track(upstream);
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    upstream.on('data', (chunk: Buffer) => {
      if (holding) held.push({ to: client, chunk });
      else client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  const port = await listenLoopback(server, 0);
  return {
    host: '127.0.0.1',
    port,
    hold() {
      holding = true;
    },
    release() {
      holding = false;
      for (const { to, chunk } of held.splice(0)) if (!to.destroyed) to.write(chunk);
    },
    close: () => closeAll(server, sockets),
  };
}

/** The proxy's sockets, each forgotten once closed; their errors are the test's to see elsewhere. */
function socketSet(): { sockets: Set<Socket>; track(socket: Socket): void } {
  const sockets = new Set<Socket>();
  return {
    sockets,
    track(socket) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    },
  };
}

/** Listens on 127.0.0.1 (`port` 0: a free one) and resolves the port. */
async function listenLoopback(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

async function closeAll(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
