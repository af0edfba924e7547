import type { Pool } from '../db.js';

export interface SlotLag {
  /** Server WAL end minus the slot's confirmed flush LSN. */
  lagBytes: number;
  /** Server WAL end minus the slot's restart LSN: WAL Postgres keeps for the slot. */
  retainedBytes: number;
  walStatus: string | null;
  safeWalSizeBytes: number | null;
  active: boolean;
  /** The server's current WAL position, as bytes from 0/0. */
  walEndBytes: number;
  /** The slot's confirmed flush LSN, as bytes from 0/0 (null before it ever confirmed). */
  confirmedFlushBytes: number | null;
}

/** Reads the slot's position against the server's WAL end; undefined when the slot does not exist. */
export async function readSlotLag(pool: Pool, slot: string): Promise<SlotLag | undefined> {
  // One statement, so WAL end and slot position are read at the same instant.
  const { rows } = await pool.query<{
    lag: string | null;
    retained: string | null;
    wal_status: string | null;
    safe_wal_size: string | null;
    active: boolean;
    wal_end: string;
    confirmed: string | null;
  }>(
    `SELECT pg_wal_lsn_diff(w.lsn, s.confirmed_flush_lsn) AS lag,
            pg_wal_lsn_diff(w.lsn, s.restart_lsn) AS retained,
            s.wal_status, s.safe_wal_size, s.active,
            pg_wal_lsn_diff(w.lsn, '0/0') AS wal_end,
            pg_wal_lsn_diff(s.confirmed_flush_lsn, '0/0') AS confirmed
       FROM pg_replication_slots s, (SELECT pg_current_wal_lsn() AS lsn) w
      WHERE s.slot_name = $1`,
    [slot],
  );
  const row = rows[0];
  if (row === undefined) return undefined;
  return {
    lagBytes: Math.max(0, Number(row.lag ?? 0)),
    retainedBytes: Math.max(0, Number(row.retained ?? 0)),
    walStatus: row.wal_status,
    safeWalSizeBytes: row.safe_wal_size === null ? null : Number(row.safe_wal_size),
    active: row.active,
    walEndBytes: Number(row.wal_end),
    confirmedFlushBytes: row.confirmed === null ? null : Number(row.confirmed),
  };
}
