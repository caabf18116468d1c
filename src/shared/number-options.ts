import { z } from 'zod';

/** A finite number above zero (zod rejects NaN and ±Infinity). */
const positiveNumber = z.number().positive();
/** A finite number, zero or more. */
const nonNegativeNumber = z.number().nonnegative();

/** `value` when it is a finite number above zero; else a RangeError `${scope}: ${name} must be a positive number, got …`. */
export function positiveOption(scope: string, name: string, value: number): number {
  if (!positiveNumber.safeParse(value).success) throw new RangeError(`${scope}: ${name} must be a positive number, got ${value}`);
  return value;
}

/** `value` when it is a finite number, zero or more; else a RangeError `${scope}: ${name} must be zero or more, got …`. */
export function nonNegativeOption(scope: string, name: string, value: number): number {
  if (!nonNegativeNumber.safeParse(value).success) throw new RangeError(`${scope}: ${name} must be zero or more, got ${value}`);
  return value;
}
