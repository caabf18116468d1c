import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's utime/stime (USER_HZ; 100 on every mainstream Linux). */
const TICKS_PER_SECOND = 100;

/**
 * CPU time of one thread of this process in µs. Prefers
 * `/proc/self/task/<tid>/schedstat` (time on CPU in ns, exact) and falls back
 * to utime + stime of `/proc/self/task/<tid>/stat` (10 ms resolution).
 * Undefined where /proc is missing.
 */
function threadCpuUs(tid: number | string): number | undefined {
  try {
    return Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e3;
  } catch {
    // kernels without CONFIG_SCHED_INFO
  }
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND) * 1e6;
  } catch {
    return undefined;
  }
}

/**
 * CPU time of this process's main thread (the event loop) in µs (the main
 * thread's id is the pid). Node 20 has no `process.threadCpuUsage()`;
 * `process.cpuUsage()` counts every thread (writer worker, GC helpers, libuv
 * pool). Undefined where /proc is missing.
 */
export function mainThreadCpuUs(): number | undefined {
  return threadCpuUs(process.pid);
}
