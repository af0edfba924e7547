import convict from 'convict';

/**
 * Strict number, port and switch formats. Convict's own coerce numbers with
 * parseInt (`"8o8o"` became port 8) and booleans by comparing with "false"
 * (`0`/`off` meant on): a value that is not exactly a number or a switch
 * stays a string here, so validation rejects it and names the key.
 */
const DECIMAL = /^\s*-?\d+(\.\d+)?\s*$/;
const SWITCHES = new Map([
  ['true', true],
  ['false', false],
  ['1', true],
  ['0', false],
  ['yes', true],
  ['no', false],
  ['on', true],
  ['off', false],
]);

const toNumber = (value: unknown): unknown =>
  typeof value === 'string' && DECIMAL.test(value) ? Number(value) : value;

function numberFormat(name: string, expected: string, accepts: (value: number) => boolean): void {
  convict.addFormat({
    name,
    coerce: toNumber,
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isFinite(value) || !accepts(value)) {
        throw new Error(`expected ${expected}`);
      }
    },
  });
}

numberFormat('whole-number', 'a whole number (0 or more)', (value) => Number.isInteger(value) && value >= 0);
numberFormat('positive-number', 'a number above 0', (value) => value > 0);
numberFormat(
  'tcp-port',
  'a port number (0-65535)',
  (value) => Number.isInteger(value) && value <= 65_535 && value >= 0,
);

convict.addFormat({
  name: 'switch',
  coerce: (value: unknown) => (typeof value === 'string' ? (SWITCHES.get(value.trim().toLowerCase()) ?? value) : value),
  validate(value: unknown) {
    if (typeof value !== 'boolean') {
      throw new Error('expected true or false (also 1/0, yes/no, on/off)');
    }
  },
});
