import { Writable } from 'node:stream';
import { createLogger } from '../../src/log.js';

export interface LogLine {
  level: number;
  msg: string;
  attempt?: number;
  retryInMs?: number;
  [key: string]: unknown;
}

/** A logger whose lines the test can read back, at PINGPULL_TEST_LOG's level (info unless set). */
export function capturingLogger(): { logger: ReturnType<typeof createLogger>; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() !== '') lines.push(JSON.parse(line) as LogLine);
      }
      callback();
    },
  });
  return { logger: createLogger(process.env.PINGPULL_TEST_LOG ?? 'info', sink), lines };
}
