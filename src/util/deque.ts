/** A FIFO queue on a growable ring buffer: O(1) push and shift (Array#shift is O(n)). */
export class Deque<T> {
  #items: Array<T | undefined> = new Array(16)
  #head = 0
  #length = 0

  get length (): number { return this.#length }

  push (item: T): void {
    if (this.#length === this.#items.length) this.#grow()
    this.#items[(this.#head + this.#length) & (this.#items.length - 1)] = item
    this.#length++
  }

  shift (): T | undefined {
    if (this.#length === 0) return undefined
    const item = this.#items[this.#head]
    this.#items[this.#head] = undefined
    this.#head = (this.#head + 1) & (this.#items.length - 1)
    this.#length--
    return item
  }

  peek (): T | undefined {
    return this.#length === 0 ? undefined : this.#items[this.#head]
  }

  /** Removes and returns every item. */
  drain (): T[] {
    const out: T[] = []
    while (this.#length > 0) out.push(this.shift() as T)
    return out
  }

  #grow (): void {
    const next = new Array<T | undefined>(this.#items.length * 2)
    for (let i = 0; i < this.#length; i++) next[i] = this.#items[(this.#head + i) & (this.#items.length - 1)]
    this.#items = next
    this.#head = 0
  }
}
