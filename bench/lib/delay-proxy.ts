import { spawn } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * A loopback TCP proxy that holds every chunk for `delayMs` before passing it
 * on, in each direction: a 10 ms delay each way is a 20 ms round trip. Order
 * is kept (chunks leave in the order they arrived, each `delayMs` after its
 * arrival), so a stream through it is the same stream, only later. Bandwidth
 * is not limited.
 */
export interface DelayProxy {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startDelayProxy(target: { host: string; port: number }, delayMs: number): Promise<DelayProxy> {
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    track(client);
    track(upstream);
    const pipe = (from: Socket, to: Socket): void => {
      // One timer per chunk: timers of equal delay fire in the order they were set.
      from.on('data', (chunk: Buffer) => {
        setTimeout(() => {
          if (!to.destroyed) to.write(chunk);
        }, delayMs);
      });
      from.on('close', () => setTimeout(() => to.destroy(), delayMs));
    };
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    host: '127.0.0.1',
    port,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * One delaying proxy per broker address, in a child process (its CPU is not
 * the measured process's, and its timers do not compete with the client's
 * event loop), and the socket factory that dials them. Kafka's metadata
 * tells a client to connect to the brokers' advertised addresses, so a proxy
 * on the bootstrap address alone would be bypassed after the first metadata
 * request; the client's socket factory sends every connection, whatever
 * address it is for, through the proxy of that address. An address without
 * a proxy is refused (the run would not measure what it says).
 */
export interface DelayedBrokers {
  socketFactory: (args: { host: string; port: number; ssl: object; onConnect: () => void }) => Socket;
  close(): Promise<void>;
}

export async function delayBrokers(brokers: string, delayMs: number): Promise<DelayedBrokers> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./delay-proxy-child.ts', import.meta.url)), String(delayMs), brokers],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  // The child prints one line: {"<broker host:port>": <proxy port>, ...}.
  const ports = await new Promise<Record<string, number>>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(JSON.parse(out) as Record<string, number>);
    });
    child.on('exit', (code) => reject(new Error(`delay proxy exited ${code}`)));
  });
  return {
    socketFactory: ({ host, port, onConnect }) => {
      const proxyPort = ports[`${host}:${port}`];
      if (proxyPort === undefined) throw new Error(`no delaying proxy for broker ${host}:${port}`);
      const socket = connect({ host: '127.0.0.1', port: proxyPort }, onConnect);
      socket.setKeepAlive(true, 60_000);
      return socket;
    },
    async close() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      // Closing its stdin tells the child to stop.
      child.stdin.end();
      await exited;
    },
  };
}
