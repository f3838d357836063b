// k-way merge of sources that are each sorted by a key (log lines by time):
// the agent merges an app's files, the CLI merges the machines. k is small (a
// few files, a few dozen machines), so the smallest head is found by a scan.
// Ties keep the order of the sources, so the merge is stable.

/** The source whose head has the smallest key (the first such on a tie), or -1 when every source is done. */
function smallestHead<T>(heads: IteratorResult<T>[], key: (t: T) => string): number {
  let best = -1;
  for (let i = 0; i < heads.length; i++) {
    const h = heads[i]!;
    if (h.done) continue;
    if (best < 0 || key(h.value) < key((heads[best] as IteratorYieldResult<T>).value)) best = i;
  }
  return best;
}

/** Merges sorted iterators into one sorted sequence, pulling from each only as needed. */
export function* mergeSorted<T>(sources: Iterable<T>[], key: (t: T) => string): Generator<T> {
  const its = sources.map((s) => s[Symbol.iterator]());
  const heads = its.map((it) => it.next());
  for (;;) {
    const best = smallestHead(heads, key);
    if (best < 0) return;
    yield (heads[best] as IteratorYieldResult<T>).value;
    heads[best] = its[best]!.next();
  }
}

/** The same over async sources (machines answering page by page). */
export async function* mergeSortedAsync<T>(sources: AsyncIterable<T>[], key: (t: T) => string): AsyncGenerator<T> {
  const its = sources.map((s) => s[Symbol.asyncIterator]());
  const heads = await Promise.all(its.map((it) => it.next()));
  for (;;) {
    const best = smallestHead(heads, key);
    if (best < 0) return;
    yield (heads[best] as IteratorYieldResult<T>).value;
    heads[best] = await its[best]!.next();
  }
}

/** The last n of a sequence (a ring of n). */
export function lastN<T>(items: Iterable<T>, n: number): T[] {
  if (n <= 0) return [];
  const ring: T[] = [];
  let at = 0;
  for (const x of items) {
    if (ring.length < n) ring.push(x);
    else {
      ring[at] = x;
      at = (at + 1) % n;
    }
  }
  return ring.length < n ? ring : [...ring.slice(at), ...ring.slice(0, at)];
}
