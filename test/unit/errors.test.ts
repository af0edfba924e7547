import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  ErrorCode,
  exitCodeFor,
  isRetriable,
  PingpullError,
  ReplicationError,
  SessionEnded,
  UsageError,
} from '../../src/errors.js';

describe('the error catalogue', () => {
  it('gives every error a distinct code', () => {
    const codes = Object.values(ErrorCode);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('keeps the cause and names the class', () => {
    const cause = new Error('socket hang up');
    const error = new ReplicationError('the stream broke', { retriable: true, cause });
    expect(error).toMatchObject({ name: 'ReplicationError', code: ErrorCode.REPLICATION, retriable: true, cause });
  });

  it('tells a slot read by another connector by its SQL state', () => {
    const error = new ReplicationError('busy', { retriable: true, sqlState: '55006' });
    expect(error.code).toBe(ErrorCode.SLOT_IN_USE);
    expect(error.slotInUse).toBe(true);
  });

  it('carries the reason of an ended session', () => {
    const reason = new PingpullError(ErrorCode.DECODE, 'bad message');
    const ended = new SessionEnded(42n, reason);
    expect(ended).toMatchObject({ code: ErrorCode.DECODE, retriable: false, published: 42n, reason, cause: reason });
  });

  it('retries only what a boundary classified as retriable', () => {
    expect(isRetriable(new PingpullError(ErrorCode.LIVEFYRE, 'timeout', { retriable: true }))).toBe(true);
    expect(isRetriable(new PingpullError(ErrorCode.LIVEFYRE, 'forbidden'))).toBe(false);
    expect(isRetriable(new Error('unclassified'))).toBe(false);
  });

  it('exits with 2 for configuration and usage errors, 1 otherwise', () => {
    expect(exitCodeFor(new ConfigError(['kafka.brokers: expected host:port, received ""']))).toBe(2);
    expect(exitCodeFor(new UsageError('unknown option'))).toBe(2);
    expect(exitCodeFor(new Error('boom'))).toBe(1);
  });
});
