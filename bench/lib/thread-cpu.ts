import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's utime/stime (USER_HZ; 100 on every mainstream Linux). */
const TICKS_PER_SECOND = 100;

/**
 * CPU time of this process's main thread (the event loop) in µs, from
 * `/proc/self/task/<pid>/stat` (utime + stime; the main thread's id is the
 * pid). Node 20 has no `process.threadCpuUsage()`; `process.cpuUsage()`
 * counts every thread (writer worker, GC helpers, libuv pool). Resolution
 * 10 ms, so use it over runs of seconds. Undefined where /proc is missing.
 */
export function mainThreadCpuUs(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND) * 1e6;
  } catch {
    return undefined;
  }
}
