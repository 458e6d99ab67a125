/**
 * TopK: a bounded min-heap that keeps the k best (highest-score) ids seen so far.
 * Typed arrays, no per-entry objects. Ties prefer the smaller internal id.
 */

export class TopK {
  readonly capacity: number;
  private readonly heapIds: Int32Array;
  private readonly heapScores: Float64Array;
  private length = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.heapIds = new Int32Array(Math.max(1, capacity));
    this.heapScores = new Float64Array(Math.max(1, capacity));
  }

  get size(): number {
    return this.length;
  }

  /** The worst score kept, or -Infinity while not full. */
  get threshold(): number {
    return this.length < this.capacity ? -Infinity : this.heapScores[0]!;
  }

  /** True when (score, id) is worse than (s2, id2). */
  private static worse(score: number, id: number, s2: number, id2: number): boolean {
    return score < s2 || (score === s2 && id > id2);
  }

  push(id: number, score: number): void {
    if (this.capacity === 0) return;
    const ids = this.heapIds;
    const scores = this.heapScores;
    if (this.length < this.capacity) {
      let i = this.length++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!TopK.worse(score, id, scores[p]!, ids[p]!)) break;
        ids[i] = ids[p]!;
        scores[i] = scores[p]!;
        i = p;
      }
      ids[i] = id;
      scores[i] = score;
      return;
    }
    if (!TopK.worse(scores[0]!, ids[0]!, score, id)) return;
    let i = 0;
    const n = this.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && TopK.worse(scores[r]!, ids[r]!, scores[l]!, ids[l]!)) c = r;
      if (!TopK.worse(scores[c]!, ids[c]!, score, id)) break;
      ids[i] = ids[c]!;
      scores[i] = scores[c]!;
      i = c;
    }
    ids[i] = id;
    scores[i] = score;
  }

  /** The kept entries, best first. */
  drain(): { ids: number[]; scores: number[] } {
    const order = Array.from({ length: this.length }, (_, i) => i);
    order.sort((a, b) => {
      const d = this.heapScores[b]! - this.heapScores[a]!;
      return d !== 0 ? d : this.heapIds[a]! - this.heapIds[b]!;
    });
    return {
      ids: order.map((i) => this.heapIds[i]!),
      scores: order.map((i) => this.heapScores[i]!),
    };
  }
}
