import { describe, expect, it } from 'vitest';
import { describeError, errorMessage } from '../../src/shared/describe-error.js';

describe('errorMessage and describeError', () => {
  it('errorMessage: the message of an Error or of an object with one, else the thrown value as text', () => {
    expect(errorMessage(new RangeError('bad value'))).toBe('bad value');
    expect(errorMessage({ message: 'from a plain object' })).toBe('from a plain object');
    expect(errorMessage('a thrown string')).toBe('a thrown string');
    expect(errorMessage(42)).toBe('42');
    expect(errorMessage(undefined)).toBe('undefined');
    expect(errorMessage(null)).toBe('null');
  });

  it('describeError: the message with its code, and the migrate hint for a missing table or schema', () => {
    expect(describeError(Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' }))).toBe('connection refused [ECONNREFUSED]');
    expect(describeError(Object.assign(new Error('relation "pgpulse.x" does not exist'), { code: '42P01' }))).toBe(
      'relation "pgpulse.x" does not exist (run `pgpulse migrate` or pulse.migrate())',
    );
    expect(describeError(Object.assign(new Error('schema "pgpulse" does not exist'), { code: '3F000' }))).toMatch(/run `pgpulse migrate`/);
    expect(describeError(new Error('plain'))).toBe('plain');
    expect(describeError('a thrown string')).toBe('a thrown string');
  });
});
