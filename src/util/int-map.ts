/**
 * A map from integers 0 … 2³² − 1 (stream call ids) to values other than `undefined`: open
 * addressing over plain arrays, linear probing, backward-shift deletion, at most half full. A
 * channel adds and deletes an entry per call; under that churn a JS `Map` made a forwarder promote
 * about twice the bytes per young-generation collection, and the routing line's 2-hop calls took
 * 18–25% more CPU in total (docs/benchmarks.md).
 */
export class IntMap<V> {
  #keys: number[]
  #vals: Array<V | undefined>
  #mask: number
  #size = 0
  constructor (capacity = 64) {
    let c = 8
    while (c < capacity * 2) c <<= 1
    this.#keys = new Array<number>(c).fill(-1)
    this.#vals = new Array<V | undefined>(c).fill(undefined)
    this.#mask = c - 1
  }

  get size (): number { return this.#size }

  /** The home slot of key `k` (Fibonacci hashing). */
  #slot (k: number): number { return Math.imul(k, 0x9e3779b1) >>> 0 & this.#mask }

  get (k: number): V | undefined {
    for (let i = this.#slot(k); ; i = (i + 1) & this.#mask) {
      const key = this.#keys[i]
      if (key === k) return this.#vals[i]
      if (key === -1) return undefined
    }
  }

  has (k: number): boolean { return this.get(k) !== undefined }
  set (k: number, v: V): void {
    if ((this.#size + 1) * 2 > this.#mask + 1) this.#grow()
    for (let i = this.#slot(k); ; i = (i + 1) & this.#mask) {
      const key = this.#keys[i]
      if (key === k) { this.#vals[i] = v; return }
      if (key === -1) { this.#keys[i] = k; this.#vals[i] = v; this.#size++; return }
    }
  }

  delete (k: number): boolean {
    const mask = this.#mask
    let i = this.#slot(k)
    for (; ; i = (i + 1) & mask) {
      const key = this.#keys[i]
      if (key === -1) return false
      if (key === k) break
    }
    // backward-shift deletion
    let j = i
    for (;;) {
      j = (j + 1) & mask
      const kj = this.#keys[j]
      if (kj === -1) break
      const home = this.#slot(kj)
      if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
        this.#keys[i] = kj; this.#vals[i] = this.#vals[j]; i = j
      }
    }
    this.#keys[i] = -1
    this.#vals[i] = undefined
    this.#size--
    return true
  }

  * values (): IterableIterator<V> {
    const snapshot: V[] = []
    for (let i = 0; i <= this.#mask; i++) if (this.#keys[i] !== -1) snapshot.push(this.#vals[i] as V)
    yield * snapshot
  }

  clear (): void {
    this.#keys.fill(-1)
    this.#vals.fill(undefined)
    this.#size = 0
  }

  #grow (): void {
    const keys = this.#keys
    const vals = this.#vals
    const c = (this.#mask + 1) * 2
    this.#keys = new Array<number>(c).fill(-1)
    this.#vals = new Array<V | undefined>(c).fill(undefined)
    this.#mask = c - 1
    this.#size = 0
    for (let i = 0; i < keys.length; i++) if (keys[i] !== -1) this.set(keys[i], vals[i] as V)
  }
}
