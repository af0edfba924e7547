import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { dropKafkajsTimeoutWarnings, type WarningSource } from '../../../src/events/kafkajs-warnings.js';

const warning = (name: string, stack: string): Error => Object.assign(new Error('a warning'), { name, stack });

const KAFKAJS_STACK = [
  'TimeoutNegativeWarning: -1796677463487 is a negative number.',
  '    at new Timeout (node:internal/timers:195:17)',
  '    at setTimeout (node:timers:120:19)',
  '    at RequestQueue.scheduleCheckPendingRequests (/app/node_modules/kafkajs/src/network/requestQueue/index.js:317:37)',
].join('\n');

describe('dropKafkajsTimeoutWarnings', () => {
  it("drops kafkajs's negative-timeout warning and passes every other warning to the listeners that were there", () => {
    const source = new EventEmitter() as EventEmitter & WarningSource;
    const printed: string[] = [];
    source.on('warning', (w: Error) => void printed.push(`${w.name}: ${w.stack?.split('\n').at(-1)?.trim()}`));
    dropKafkajsTimeoutWarnings(source);
    dropKafkajsTimeoutWarnings(source); // once per source

    source.emit('warning', warning('TimeoutNegativeWarning', KAFKAJS_STACK));
    source.emit(
      'warning',
      warning('TimeoutNegativeWarning', 'TimeoutNegativeWarning\n    at ours (/app/dist/cdc/x.js:1:1)'),
    );
    source.emit('warning', warning('DeprecationWarning', KAFKAJS_STACK));

    expect(printed).toEqual([
      'TimeoutNegativeWarning: at ours (/app/dist/cdc/x.js:1:1)',
      'DeprecationWarning: at RequestQueue.scheduleCheckPendingRequests (/app/node_modules/kafkajs/src/network/requestQueue/index.js:317:37)',
    ]);
    expect(source.listenerCount('warning')).toBe(1);
  });
});
