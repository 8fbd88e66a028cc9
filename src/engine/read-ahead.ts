/**
 * The chunks of `source`, each next one pulled as soon as the one before is handed out — but in
 * a macrotask (setImmediate), after the microtasks already queued have run. Those include the
 * chunk just handed out going to the sink and its checkpoint commit up to its fsync, which runs
 * on libuv's pool (SqliteStore.commitChunk): the source's parsing then fills the fsync's wait
 * instead of coming before it. Without the delay the next chunk was parsed first and the event
 * loop sat idle through every fsync (10% of a no-op handler's run; docs/benchmarks.md).
 *
 * At most one chunk is held ahead, and none behind: the chunk handed out is let go before the
 * next is awaited, since a suspended generator keeps whatever its variables last held (the
 * executor's young-generation collections copied a stale chunk each; docs/benchmarks.md, machine T).
 * A consumer that stops early closes the source at once when
 * the next pull has not begun, else once it ends: not awaited, since a read of standard input
 * can wait for data that never comes (the run's source.close() calls that read off).
 */
export function readAhead<T>(source: AsyncIterable<T>): AsyncIterableIterator<T> & { return(): Promise<IteratorResult<T>> } {
  const iterator = source[Symbol.asyncIterator]();
  let closing = false;
  const pull = (): Promise<IteratorResult<T>> => {
    // A consumer that stopped before the macrotask came reads nothing more.
    const next = new Promise<void>((resolve) => setImmediate(resolve)).then((): Promise<IteratorResult<T>> | IteratorResult<T> => (closing ? { done: true, value: undefined } : iterator.next()));
    // A pull whose chunk is never asked for may fail unobserved (the run stopped meanwhile).
    next.catch(() => {});
    return next;
  };
  // An iterator rather than a generator, so that nothing holds a chunk once it is handed out.
  let ahead = iterator.next();
  let ended = false;
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next(): Promise<IteratorResult<T>> {
      if (ended) return { done: true, value: undefined };
      try {
        const result = await ahead;
        if (result.done) ended = true;
        else ahead = pull();
        return result;
      } catch (error) {
        // After a failed read the source has ended by itself: it is not closed.
        ended = true;
        throw error;
      }
    },
    async return(): Promise<IteratorResult<T>> {
      if (!ended) {
        ended = true;
        closing = true;
        void ahead.then(() => iterator.return?.(), () => {}).catch(() => {});
      }
      return { done: true, value: undefined };
    },
  };
}
