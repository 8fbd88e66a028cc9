import type { Source } from '../sources/types.js';

/**
 * Which items a sample run takes: the first, the last, the shortest and the longest record, and
 * the rest evenly spread over the input — so a trial on the real target sees the edges, not just
 * the head. Reads the source once, keeping only seq and size per item.
 */
export async function sampleSeqs(source: Source, n: number, signal: AbortSignal): Promise<ReadonlySet<number>> {
  const seqs: number[] = [];
  let shortest = { seq: 0, size: Infinity };
  let longest = { seq: 0, size: -1 };
  for await (const item of source.read(null, signal)) {
    seqs.push(item.seq);
    const size = item.error ? 0 : JSON.stringify(item.data).length;
    if (size < shortest.size) shortest = { seq: item.seq, size };
    if (size > longest.size) longest = { seq: item.seq, size };
  }
  if (seqs.length <= n) return new Set(seqs);
  const chosen = new Set<number>();
  for (const seq of [seqs[0]!, seqs.at(-1)!, shortest.seq, longest.seq]) if (chosen.size < n) chosen.add(seq);
  for (let k = 0; chosen.size < n && k < seqs.length; k++) {
    // Evenly spaced positions; a collision with an edge moves on to the next free one.
    const at = Math.min(seqs.length - 1, Math.floor(((k + 1) * seqs.length) / (n + 1)));
    for (let j = at; j < seqs.length && chosen.size < n; j++) {
      if (!chosen.has(seqs[j]!)) {
        chosen.add(seqs[j]!);
        break;
      }
    }
  }
  return chosen;
}
