/**
 * Every test file runs under the leak check (`setupFiles` in vitest.config.ts):
 * after its last test, its afterAll hooks and its file fixtures, no pg pool or
 * client, server, child process, worker thread or timer its code opened may
 * still be open. The failure names each resource and the test that opened it.
 * Resources that are closing (a server's `close`, a child's exit after a kill)
 * get up to `LEAK_GRACE_MS` to finish.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { aroundAll, aroundEach } from 'vitest';
import type { RunnerTestCase } from 'vitest';
import { formatLeaks, installLeakCheck, leaksOf, resetLeakCheck } from './leak-check.js';

const LEAK_GRACE_MS = 2_000;

const registry = installLeakCheck();

function fullName(test: RunnerTestCase): string {
  const names = [test.name];
  for (let suite = test.suite; suite && suite.name && suite !== test.file; suite = suite.suite) names.unshift(suite.name);
  return names.join(' > ');
}

async function settledLeaks(): Promise<ReturnType<typeof leaksOf>> {
  const deadline = Date.now() + LEAK_GRACE_MS;
  for (;;) {
    const leaks = leaksOf(registry);
    if (leaks.length === 0 || Date.now() > deadline) return leaks;
    await sleep(20);
  }
}

// eslint-disable-next-line no-empty-pattern -- vitest reads fixtures from the second argument's pattern; the suite is the third
aroundAll(async (runSuite, {}, suite) => {
  resetLeakCheck(registry);
  await runSuite();
  const leaks = await settledLeaks();
  if (leaks.length > 0) throw new Error(formatLeaks(suite.file.name, leaks));
});

aroundEach(async (runTest, { task }) => {
  registry.currentTest = fullName(task);
  try {
    await runTest();
  } finally {
    registry.currentTest = undefined;
  }
});
