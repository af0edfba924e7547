import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startLocalServices } from '../../../src/demo/local-services.js';
import { exitCodeFor } from '../../../src/errors.js';

describe('the demo outside a checkout', () => {
  it('fails as a usage error naming the variables to set, on one line', async () => {
    const installed = mkdtempSync(join(tmpdir(), 'pingpull-installed-'));
    const error = await startLocalServices(installed).catch((e: unknown) => e);
    expect(exitCodeFor(error)).toBe(2);
    const message = (error as Error).message;
    expect(message).toMatch(/PINGPULL_DATABASE_URL.*PINGPULL_KAFKA_BROKERS.*checkout/);
    expect(message).not.toContain('\n');
  });
});
