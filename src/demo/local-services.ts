import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';

export interface DemoServices {
  /** Superuser URL of a cluster with wal_level=logical. */
  databaseUrl: string;
  kafkaBrokers: string;
}

// Two levels up from src/demo (tests run the TypeScript) and from dist/demo (compiled).
const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

const NO_LOCAL_SERVICES =
  'demo: set PINGPULL_DATABASE_URL (PostgreSQL with wal_level=logical) and PINGPULL_KAFKA_BROKERS, ' +
  'or run it from a checkout of the repository, which starts local ones';

/**
 * Starts (or reuses) a local PostgreSQL and Kafka through the repository's
 * `npm run services -- up`, whose progress goes to our stderr. Those dev
 * tools exist only in a checkout: the npm package and the Docker image
 * carry none of them, so there the demo needs services to be named.
 */
export async function startLocalServices(root = packageRoot): Promise<DemoServices> {
  if (!existsSync(path.join(root, 'tools', 'devenv', 'cli.ts'))) throw new UsageError(NO_LOCAL_SERVICES);
  return parseServices(await servicesUp(root));
}

function servicesUp(root: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '-s', 'services', '--', 'up'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`npm run services -- up failed (exit ${code ?? 'by signal'})`));
    });
  });
}

/** The command prints `NAME=value` lines; its output holds a password, so it is never echoed in errors. */
function parseServices(stdout: string): DemoServices {
  const values = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const match = /^(PINGPULL_[A-Z_]+)=(.*)$/.exec(line.trim());
    if (match) values.set(match[1]!, match[2]!);
  }
  const databaseUrl = values.get('PINGPULL_DATABASE_URL');
  const kafkaBrokers = values.get('PINGPULL_KAFKA_BROKERS');
  if (!databaseUrl || !kafkaBrokers) {
    throw new Error('npm run services -- up did not print PINGPULL_DATABASE_URL and PINGPULL_KAFKA_BROKERS');
  }
  return { databaseUrl, kafkaBrokers };
}
