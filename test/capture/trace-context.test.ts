import { describe, expect, it } from 'vitest';
import { parseTraceparent } from '../../src/capture/trace-context.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('traceparent header (W3C Trace Context)', () => {
  it('reads version 00: trace id and parent span id', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`)).toEqual({ trace_id: TRACE, span_id: SPAN });
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)).toEqual({ trace_id: TRACE, span_id: SPAN });
    expect(parseTraceparent(` 00-${TRACE}-${SPAN}-01\t`)).toEqual({ trace_id: TRACE, span_id: SPAN });
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['upper-case hex', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['upper-case span id', `00-${TRACE}-${SPAN.toUpperCase()}-01`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['version ff', `ff-${TRACE}-${SPAN}-01`],
    ['version 00 with more fields', `00-${TRACE}-${SPAN}-01-extra`],
    ['short trace id', `00-${TRACE.slice(1)}-${SPAN}-01`],
    ['long span id', `00-${TRACE}-${SPAN}0-01`],
    ['wrong separators', `00_${TRACE}_${SPAN}_01`],
    ['one-digit flags', `00-${TRACE}-${SPAN}-1`],
    ['non-hex', `00-${TRACE.replace('4', 'g')}-${SPAN}-01`],
    ['repeated header (joined)', `00-${TRACE}-${SPAN}-01, 00-${TRACE}-${SPAN}-01`],
    ['array of values', [`00-${TRACE}-${SPAN}-01`]],
  ])('ignores a malformed header: %s', (_name, header) => {
    expect(parseTraceparent(header)).toBeNull();
  });

  it('reads a future version by its first four fields when more follow after a dash', () => {
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01`)).toEqual({ trace_id: TRACE, span_id: SPAN });
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-01-what-the-future-holds`)).toEqual({ trace_id: TRACE, span_id: SPAN });
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-01x`)).toBeNull();
  });
});
