import { randomUUID } from 'node:crypto';
import { ChangeDetector } from '../../src/cdc/change-detection.js';
import type { RowChange } from '../../src/cdc/decoder.js';
import { buildProfileMapping } from '../../src/mapping/index.js';
import { ChangeDetectorBefore } from './change-detection-before.js';

// One detector in a fresh process (run with --expose-gc): heap and array buffer bytes it holds
// per remembered user once filled with USERS users through detect(), then
// CPU per detect() at capacity. Prints one JSON line. Arguments: `current`
// or `before` (the detector before issue 13), and `int` or `uuid` user ids.

const [which = 'current', idKind = 'int'] = process.argv.slice(2);
const USERS = Number(process.env.BENCH_KNOWN_USERS ?? 100_000);
const OPS = Number(process.env.BENCH_DETECT_OPS ?? 50_000);

if (OPS > USERS)
  throw new Error('BENCH_DETECT_OPS must not exceed BENCH_KNOWN_USERS (the no-op updates must be remembered)');

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

const mapping = buildProfileMapping({
  source: {
    table: 'public.users',
    idColumn: 'id',
    columns: { display_name: 'display_name', email: 'email', image_url: 'avatar_url' },
  },
});

const ids: string[] = [];
for (let i = 0; i < USERS + OPS; i++) ids.push(idKind === 'uuid' ? randomUUID() : String(1_000_000 + i));

/** A decoded UPDATE as the stream delivers it without the old row; fresh strings each time, like the decoder's. */
function update(i: number, generation: number): RowChange {
  const id = (' ' + ids[i]!).slice(1);
  return {
    op: 'update',
    lsn: 1n,
    before: null,
    beforeIsFull: false,
    after: {
      id,
      values: {
        display_name: `user ${i}${generation === 0 ? '' : '!'}`,
        email: `${i}@example.com`,
        avatar_url: `https://cdn.example.com/${i}.png`,
      },
    },
  };
}

/** Heap used plus array buffers' memory (outside the heap: a detector may keep its memory in typed arrays). */
function heapUsed(): number {
  gc!();
  gc!();
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

const heapBefore = heapUsed();
const options = { mapping, knownUsers: USERS };
const detector = which === 'before' ? new ChangeDetectorBefore(options) : new ChangeDetector(options);
const fillStart = process.hrtime.bigint();
for (let i = 0; i < USERS; i++) detector.detect(update(i, 0));
const fillNs = Number(process.hrtime.bigint() - fillStart);
const heapAfter = heapUsed();

// At capacity: updates of users not remembered (each evicts the least recently seen).
let start = process.hrtime.bigint();
for (let i = USERS; i < USERS + OPS; i++) detector.detect(update(i, 0));
const evictingNs = Number(process.hrtime.bigint() - start) / OPS;
// At capacity: no-op updates of remembered users (skipped).
let skipped = 0;
start = process.hrtime.bigint();
for (let i = USERS; i < USERS + OPS; i++) if (detector.detect(update(i, 0)).skipped) skipped += 1;
const noOpNs = Number(process.hrtime.bigint() - start) / OPS;
if (skipped !== OPS) throw new Error(`${which}: only ${skipped} of ${OPS} no-op updates skipped`);

process.stdout.write(
  `${JSON.stringify({
    which,
    idKind,
    users: USERS,
    bytesPerUser: (heapAfter - heapBefore) / USERS,
    fillNsPerDetect: fillNs / USERS,
    evictingNsPerDetect: evictingNs,
    noOpNsPerDetect: noOpNs,
    noOpSkippedFraction: skipped / OPS,
  })}\n`,
);
