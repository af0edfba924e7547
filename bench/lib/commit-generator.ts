import pg from 'pg';

// The latency bench's load: single-row commits at a steady rate, in a child
// process of its own (`fork`, IPC) so that the pipeline it measures cannot
// hold its timers back. `connections` writers each take every
// connections-th commit at its due time; a late writer catches up at once.

export interface GeneratorJob {
  rate: number;
  seconds: number;
  /** Commit i updates user `firstId + i`. */
  firstId: number;
}

/** Per commit: the user id and when its commit returned (epoch ms); the ids are `firstId + index`. */
export interface GeneratorResult {
  committedAt: number[];
  start: number;
}

const [databaseUrl = '', connectionsArg = '4'] = process.argv.slice(2);
const connections = Number(connectionsArg);
const pool = new pg.Pool({ connectionString: databaseUrl, max: connections });

process.on('message', (job: GeneratorJob | 'close') => {
  if (job === 'close') {
    void pool.end().then(() => process.disconnect());
    return;
  }
  void run(job).then((result) => process.send?.(result));
});

async function run(job: GeneratorJob): Promise<GeneratorResult> {
  const count = job.rate * job.seconds;
  const committedAt = new Array<number>(count).fill(0);
  const interval = 1000 / job.rate;
  const start = Date.now();
  const writer = async (lane: number): Promise<void> => {
    for (let i = lane; i < count; i += connections) {
      const wait = start + i * interval - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      await pool.query('UPDATE users SET display_name = $2 WHERE id = $1', [
        job.firstId + i,
        `latency ${job.rate} ${i}`,
      ]);
      committedAt[i] = Date.now();
    }
  };
  await Promise.all(Array.from({ length: connections }, (_, lane) => writer(lane)));
  return { committedAt, start };
}
