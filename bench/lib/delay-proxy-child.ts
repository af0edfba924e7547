import { startDelayProxy, type DelayProxy } from './delay-proxy.js';

// The delaying proxies of delayBrokers (delay-proxy.ts), in a process of
// their own. Arguments: the delay in ms, the brokers (host:port,...). Prints
// {"<broker>": <proxy port>} on one line; stops when its stdin closes.
const [delayMs, brokers] = process.argv.slice(2);
const proxies: DelayProxy[] = [];
const ports: Record<string, number> = {};
for (const broker of (brokers ?? '').split(',').map((b) => b.trim())) {
  const at = broker.lastIndexOf(':');
  const proxy = await startDelayProxy(
    { host: broker.slice(0, at), port: Number(broker.slice(at + 1)) },
    Number(delayMs),
  );
  proxies.push(proxy);
  ports[broker] = proxy.port;
}
process.stdout.write(`${JSON.stringify(ports)}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void Promise.all(proxies.map((proxy) => proxy.close())).then(() => process.exit(0));
});
