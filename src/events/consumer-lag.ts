import type { Admin } from 'kafkajs';
import type { Kafka as KafkaClient } from './kafka.js';
import { decodePullsSummary } from './pulls.js';

export interface PartitionLag {
  partition: number;
  /** The partition's end offset (offset of the next message written). */
  endOffset: number;
  /** The group's committed offset, null when the group never committed on this partition. */
  committedOffset: number | null;
  /** End offset minus committed offset; everything still held when nothing was committed. */
  lag: number;
}

export interface TopicLag {
  topic: string;
  exists: boolean;
  partitions: PartitionLag[];
  /** Sum of `lag` over the partitions. */
  total: number;
  /** Consumers in the group now (0: no pinger is alive to work the lag off). */
  members: number;
}

export interface TopicSize {
  topic: string;
  exists: boolean;
  /** Messages held: end offset minus start offset, summed over partitions. */
  messages: number;
  /** Per partition, the offsets held: from `low` up to (not including) `high`. */
  partitions: Array<{ partition: number; low: string; high: string }>;
}

/** A group's committed offset on one partition, with the commit metadata (which replays record in). */
export interface GroupMark {
  partition: number;
  offset: string;
  metadata: string | null;
}

export interface AwaitedPulls {
  topic: string;
  exists: boolean;
  /** Pings waiting for their pull, as the owners of the pulls topic's partitions last committed. */
  awaiting: number;
  /** The first ping of the oldest wait, epoch milliseconds; null when nothing waits. */
  oldestFirstPingedAtMs: number | null;
}

/**
 * Reads consumer lag and topic sizes with the admin API only: no consumer
 * joins a group, nothing is committed, so it is safe beside running pingers.
 */
export interface KafkaLagReader {
  consumerLag(topic: string, groupId: string): Promise<TopicLag>;
  topicSize(topic: string): Promise<TopicSize>;
  /** The pull confirmation loop's summary: the pulls group's commit metadata (src/pinger/awaiting-pulls.ts). */
  awaitedPulls(topic: string, groupId: string): Promise<AwaitedPulls>;
  groupMarks(topic: string, groupId: string): Promise<GroupMark[]>;
  close(): Promise<void>;
}

/** A reader over an existing client (a role's); connects its admin on first use and keeps it. */
export function createKafkaLagReader(kafka: KafkaClient): KafkaLagReader {
  let admin: Admin | undefined;
  let connecting: Promise<Admin> | undefined;

  async function connected(): Promise<Admin> {
    if (admin !== undefined) return admin;
    connecting ??= (async () => {
      const candidate = kafka.admin();
      try {
        await candidate.connect();
      } catch (error) {
        connecting = undefined;
        await candidate.disconnect().catch(() => undefined);
        throw error;
      }
      admin = candidate;
      return candidate;
    })();
    return connecting;
  }

  async function existing(client: Admin, topic: string): Promise<boolean> {
    return (await client.listTopics()).includes(topic);
  }

  return {
    async consumerLag(topic, groupId) {
      const client = await connected();
      const [exists, described] = await Promise.all([existing(client, topic), client.describeGroups([groupId])]);
      const members = described.groups.find((group) => group.groupId === groupId)?.members.length ?? 0;
      if (!exists) return { topic, exists: false, partitions: [], total: 0, members };
      const [ends, groups] = await Promise.all([
        client.fetchTopicOffsets(topic),
        client.fetchOffsets({ groupId, topics: [topic] }),
      ]);
      const committed = new Map<number, number>();
      for (const entry of groups.find((group) => group.topic === topic)?.partitions ?? []) {
        const offset = Number(entry.offset);
        if (offset >= 0) committed.set(entry.partition, offset);
      }
      const partitions = ends
        .map(({ partition, high, low }): PartitionLag => {
          const endOffset = Number(high);
          const committedOffset = committed.get(partition) ?? null;
          // Never committed: every message still held is waiting. A committed offset
          // below the start (retention deleted the rest) counts from the start.
          const from = Math.max(committedOffset ?? Number(low), Number(low));
          return { partition, endOffset, committedOffset, lag: Math.max(0, endOffset - from) };
        })
        .sort((a, b) => a.partition - b.partition);
      return { topic, exists: true, partitions, total: partitions.reduce((sum, p) => sum + p.lag, 0), members };
    },
    async topicSize(topic) {
      const client = await connected();
      if (!(await existing(client, topic))) return { topic, exists: false, messages: 0, partitions: [] };
      const offsets = await client.fetchTopicOffsets(topic);
      return {
        topic,
        exists: true,
        messages: offsets.reduce((sum, p) => sum + Math.max(0, Number(p.high) - Number(p.low)), 0),
        partitions: offsets
          .map(({ partition, low, high }) => ({ partition, low, high }))
          .sort((a, b) => a.partition - b.partition),
      };
    },
    async awaitedPulls(topic, groupId) {
      const client = await connected();
      const none = { topic, awaiting: 0, oldestFirstPingedAtMs: null };
      if (!(await existing(client, topic))) return { ...none, exists: false };
      const groups = await client.fetchOffsets({ groupId, topics: [topic] });
      const result: AwaitedPulls = { ...none, exists: true };
      for (const entry of groups.find((group) => group.topic === topic)?.partitions ?? []) {
        const summary = decodePullsSummary(entry.metadata);
        if (summary === undefined) continue;
        result.awaiting += summary.awaiting;
        const oldest = summary.oldestFirstPingedAtMs;
        if (oldest !== null && (result.oldestFirstPingedAtMs === null || oldest < result.oldestFirstPingedAtMs)) {
          result.oldestFirstPingedAtMs = oldest;
        }
      }
      return result;
    },
    async groupMarks(topic, groupId) {
      const client = await connected();
      if (!(await existing(client, topic))) return [];
      const [entry] = await client.fetchOffsets({ groupId, topics: [topic] });
      return (entry?.partitions ?? []).map(({ partition, offset, metadata }) => ({
        partition,
        offset,
        metadata: metadata ?? null,
      }));
    },
    async close() {
      const current = admin ?? (await connecting?.catch(() => undefined));
      admin = undefined;
      connecting = undefined;
      await current?.disconnect().catch(() => undefined);
    },
  };
}
