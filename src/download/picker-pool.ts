// The picker's pool: wanted chunks nobody is fetching, kept in random order so that scanning it
// from any point meets them at random. Two typed arrays; nothing allocated per chunk.

export class ChunkPool {
  /** the chunks, shuffled; `pos` is each chunk's slot (-1: absent) */
  private readonly items: Uint32Array;
  private readonly pos: Int32Array;
  private count = 0;

  constructor(
    chunkCount: number,
    private readonly random: () => number,
  ) {
    this.items = new Uint32Array(chunkCount);
    this.pos = new Int32Array(chunkCount).fill(-1);
  }

  get size(): number {
    return this.count;
  }

  /** The chunk in slot `at` (0 ≤ at < size). */
  at(at: number): number {
    return this.items[at]!;
  }

  /** Insert at a random slot (the displaced chunk moves to the end): the pool stays shuffled. */
  add(index: number): void {
    const at = Math.floor(this.random() * (this.count + 1));
    const moved = this.items[at]!;
    this.items[this.count] = moved;
    if (at < this.count) this.pos[moved] = this.count;
    this.items[at] = index;
    this.pos[index] = at;
    this.count++;
  }

  remove(index: number): void {
    const at = this.pos[index]!;
    if (at < 0) return;
    const last = this.items[--this.count]!;
    this.items[at] = last;
    this.pos[last] = at;
    this.pos[index] = -1;
  }
}
