import { Kafka, Partitioners, logLevel, type ISocketFactory, type Message } from 'kafkajs';
import { toChangeMessage } from '../../src/events/envelope.js';
import { createTopic, deleteTopic, suffix } from './cdc.js';

// "kafkajs alone": the Kafka client producing the connector's messages with
// nothing else in the process to do, as fast as it can. It is the ceiling a
// connector built on kafkajs can reach on this machine; the connector's rate
// divided by it says how much of the client's capacity the connector leaves
// on the table.

/**
 * The messages the connector publishes for `users` updates of the bench's
 * users table: same envelope, key, headers and value size (built by the same
 * envelope code), serialised as the publisher does, before the clock starts.
 */
export function connectorLikeMessages(users: number, slot: string, db: string): Message[] {
  const origin = { slot, db, schema: 'public', table: 'users' };
  const messages: Message[] = [];
  const now = Date.now();
  for (let id = 1; id <= users; id++) {
    const tx = {
      xid: 1_000 + Math.floor(id / 1_000),
      commitLsn: 0x1_6000_0000n + BigInt(id) * 64n,
      commitTimeMs: now,
      previousCommitLsn: 0x1_5000_0000n,
    };
    const message = toChangeMessage(
      origin,
      tx,
      {
        op: 'u',
        key: String(id),
        before: null,
        after: {
          id: String(id),
          display_name: `user ${id}.`,
          email: `${id}@example.com`,
          avatar_url: `https://cdn.example.com/${id}.png`,
        },
        changedFields: ['display_name'],
        lsn: 0x1_5800_0000n + BigInt(id) * 256n,
        index: id % 1_000,
        part: 0,
      },
      now,
    );
    messages.push({ key: message.key, value: JSON.stringify(message.value), headers: message.headers });
  }
  return messages;
}

export interface BaselineRun {
  ms: number;
  /** Process CPU (user + system) over the run, microseconds. */
  cpuUs: number;
}

/**
 * Produces `messages` to a fresh 3-partition topic with acks=all: `batch`
 * messages per request, `inFlight` requests outstanding at a time (Java's
 * murmur2 partitioner, as the connector). Topic creation and the connection
 * are outside the timing.
 */
export async function produceAlone(
  brokers: string,
  messages: readonly Message[],
  options: { batch: number; inFlight: number; socketFactory?: ISocketFactory },
): Promise<BaselineRun> {
  const topic = `bench_alone_${suffix()}`;
  await createTopic(brokers, topic, 3);
  const kafka = new Kafka({
    clientId: 'pingpull-bench-alone',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
    ...(options.socketFactory === undefined ? {} : { socketFactory: options.socketFactory }),
  });
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
    maxInFlightRequests: options.inFlight,
  });
  await producer.connect();
  try {
    let next = 0;
    const cpu = process.cpuUsage();
    const start = performance.now();
    const lane = async (): Promise<void> => {
      while (next < messages.length) {
        const slice = messages.slice(next, next + options.batch);
        next += options.batch;
        await producer.send({ topic, acks: -1, messages: slice });
      }
    };
    await Promise.all(Array.from({ length: options.inFlight }, lane));
    const ms = performance.now() - start;
    const used = process.cpuUsage(cpu);
    return { ms, cpuUs: used.user + used.system };
  } finally {
    await producer.disconnect();
    await deleteTopic(brokers, topic);
  }
}
