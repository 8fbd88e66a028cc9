/**
 * The chunks of `source`, each next one pulled as soon as the one before is handed out — but in
 * a macrotask (setImmediate), after the microtasks already queued have run. Those include the
 * chunk just handed out going to the sink and its checkpoint commit up to its fsync, which runs
 * on libuv's pool (SqliteStore.commitChunk): the source's parsing then fills the fsync's wait
 * instead of coming before it. Without the delay the next chunk was parsed first and the event
 * loop sat idle through every fsync (10% of a no-op handler's run; docs/benchmarks.md).
 *
 * At most one chunk is held ahead. A consumer that stops early closes the source at once when
 * the next pull has not begun, else once it ends: not awaited, since a read of standard input
 * can wait for data that never comes (the run's source.close() calls that read off).
 */
export async function* readAhead<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let closing = false;
  const pull = (): Promise<IteratorResult<T>> => {
    // A consumer that stopped before the macrotask came reads nothing more.
    const next = new Promise<void>((resolve) => setImmediate(resolve)).then((): Promise<IteratorResult<T>> | IteratorResult<T> => (closing ? { done: true, value: undefined } : iterator.next()));
    // A pull whose chunk is never asked for may fail unobserved (the run stopped meanwhile).
    next.catch(() => {});
    return next;
  };
  let next = iterator.next();
  let done = false;
  try {
    for (;;) {
      const result = await next;
      if (result.done) {
        done = true;
        return;
      }
      next = pull();
      yield result.value;
    }
  } finally {
    // After a failed read the source has ended by itself: only a pull that succeeded is closed.
    if (!done) {
      closing = true;
      void next.then(() => iterator.return?.(), () => {}).catch(() => {});
    }
  }
}
