/**
 * Resolves on the first of SIGINT/SIGTERM or, when `output` is given, an
 * error on it (e.g. a closed pipe after `| head`). `dispose` removes the handlers.
 */
export function stopRequested(output?: NodeJS.WritableStream): { promise: Promise<string>; dispose: () => void } {
  let resolve!: (reason: string) => void;
  const promise = new Promise<string>((r) => (resolve = r));
  const onSignal = (signal: NodeJS.Signals) => resolve(signal);
  const onOutputError = (error: Error) => resolve(`output ${error.message}`);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  output?.on('error', onOutputError);
  return {
    promise,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      output?.off('error', onOutputError);
    },
  };
}
