import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/index.js';
import { configKeys } from '../../src/config/reference.js';
import { launcherNodeFlags } from '../helpers/launcher.js';

// There is no Docker engine here: the compose file is checked by parsing it.
const root = fileURLToPath(new URL('../../', import.meta.url));
const compose = parse(readFileSync(`${root}docker-compose.yml`, 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
  secrets: Record<string, { file: string }>;
};

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | number>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  secrets?: string[];
}

const knownEnv = new Set(
  configKeys().flatMap((key) => (key.sensitive === true ? [key.env, `${key.env}_FILE`] : [key.env])),
);
const pingpullServices = Object.entries(compose.services).filter(([, service]) =>
  service.image?.startsWith('pingpull'),
);

describe('docker-compose.yml', () => {
  it('runs each pingpull role as its own service, plus setup, the simulator, Prometheus and Grafana', () => {
    const commands = Object.fromEntries(pingpullServices.map(([name, service]) => [name, service.command?.[0]]));
    expect(commands).toMatchObject({
      connector: 'connector',
      pinger: 'pinger',
      'pull-server': 'pull-server',
      setup: 'setup',
      'livefyre-sim': 'livefyre-sim',
      'register-pull-url': 'register-pull-url',
    });
    expect(Object.keys(compose.services)).toEqual(
      expect.arrayContaining(['postgres', 'kafka', 'prometheus', 'grafana']),
    );
  });

  it('gives pingpull services only environment variables the config schema knows', () => {
    for (const [name, service] of pingpullServices) {
      for (const variable of Object.keys(service.environment ?? {})) {
        expect(knownEnv.has(variable), `${name}: ${variable}`).toBe(true);
      }
      expect(service.environment?.PINGPULL_DATABASE_URL_FILE, name).toBeDefined();
    }
  });

  it('hands every secret over as a file (Docker secrets), never as a value in the environment', () => {
    const secrets = configKeys().filter((key) => key.sensitive === true);
    for (const [name, service] of [...pingpullServices, ['postgres', compose.services.postgres!] as const]) {
      for (const [variable, value] of Object.entries(service.environment ?? {})) {
        expect(secrets.some((key) => key.env === variable) || /PASSWORD$/.test(variable), `${name}: ${variable}`).toBe(
          false,
        );
        if (!variable.endsWith('_FILE')) continue;
        const secret = String(value).replace('/run/secrets/', '');
        expect(service.secrets, `${name}: ${variable}`).toContain(secret);
        expect(existsSync(`${root}${compose.secrets[secret]!.file}`), `${name}: ${secret}`).toBe(true);
      }
    }
  });

  it('loads as a valid configuration with the secret files in place', () => {
    for (const [name, service] of pingpullServices) {
      const env = Object.fromEntries(
        Object.entries(service.environment ?? {}).map(([variable, value]) => {
          const secret = String(value).replace('/run/secrets/', '');
          return [variable, variable.endsWith('_FILE') ? `${root}${compose.secrets[secret]!.file}` : String(value)];
        }),
      );
      const config = loadConfig({ env });
      expect(config.database.url, name).toMatch(/^postgres:\/\/\w+:\w+@postgres:5432\/app$/);
      expect(config.livefyre.networkKey, name).toBe('change-me-network-key');
    }
  });

  it('maps source.columns to columns the seeded table has', () => {
    const env = compose.services.connector!.environment!;
    const columns = JSON.parse(String(env.PINGPULL_SOURCE_COLUMNS)) as Record<string, string>;
    const init = readFileSync(`${root}deploy/postgres/init.sql`, 'utf8');
    for (const column of [...Object.values(columns), String(env.PINGPULL_SOURCE_ID_COLUMN)]) {
      expect(init).toMatch(new RegExp(`^\\s+${column}\\s`, 'm'));
    }
  });

  it('starts Postgres with logical WAL, and the roles only after setup and healthy dependencies', () => {
    expect(compose.services.postgres!.command).toEqual(expect.arrayContaining(['wal_level=logical']));
    for (const role of ['connector', 'pinger', 'pull-server']) {
      expect(compose.services[role]!.depends_on?.setup?.condition).toBe('service_completed_successfully');
    }
    for (const name of ['postgres', 'kafka', 'livefyre-sim', 'pull-server', 'prometheus']) {
      expect(compose.services[name]!.healthcheck, name).toBeDefined();
    }
  });

  it('publishes the pull port and the simulator, and does not pin metrics ports of scalable roles', () => {
    expect(compose.services['pull-server']!.ports).toContain('8080:8080');
    expect(compose.services.pinger!.ports).toBeUndefined();
  });

  it('mounts files that exist, and declares its named volumes', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const [source] = volume.split(':');
        if (source!.startsWith('./')) expect(existsSync(`${root}${source}`), `${name}: ${source}`).toBe(true);
        else expect(Object.keys(compose.volumes), `${name}: ${source}`).toContain(source);
      }
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(`${root}Dockerfile`, 'utf8');

  it('is multi-stage and runs as a non-root user on a current LTS Node', () => {
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/^FROM node:(22|24)[-.\w]*/m);
    expect(dockerfile).toMatch(/^USER node$/m);
  });

  it("starts Node with the launcher's flags, the memory defaults `npx pingpull` gets", () => {
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
    expect(entrypoint).toBeDefined();
    expect(JSON.parse(entrypoint!)).toEqual(['node', ...launcherNodeFlags(), 'bin/pingpull.js']);
  });
});
