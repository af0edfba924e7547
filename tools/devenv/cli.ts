import { type Services, servicesDown, servicesStatus, servicesUp } from './index.js';

const USAGE = 'usage: npm run services -- up|down|status';

// stdout carries only these lines so that `eval "$(npm run -s services -- up)"` works; the demo reads them too.
function print(s: Services): void {
  process.stdout.write(`PINGPULL_DATABASE_URL=${s.databaseUrl}\nPINGPULL_KAFKA_BROKERS=${s.kafkaBrokers}\n`);
}

async function main(command: string | undefined): Promise<number> {
  switch (command) {
    case 'up': {
      const started = Date.now();
      print(await servicesUp());
      process.stderr.write(`[services] up in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      return 0;
    }
    case 'status': {
      const services = await servicesStatus();
      if (!services) {
        process.stderr.write('[services] not running\n');
        return 1;
      }
      print(services);
      return 0;
    }
    case 'down':
      await servicesDown();
      return 0;
    default:
      process.stderr.write(`${USAGE}\n`);
      return 2;
  }
}

main(process.argv[2]).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[services] ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
