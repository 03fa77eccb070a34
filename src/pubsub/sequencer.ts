/**
 * In-order release of one publisher's messages to one subscription. Messages carry consecutive
 * sequence numbers from 1; one that arrives early (the stream pool spreads frames over several
 * streams, and a route can change) waits until the gap before it fills, at most `window` messages
 * and until the owner calls {@link Sequencer.skip} (after a timeout). A skipped gap is a counted
 * drop; a message at or below the last released seq is a duplicate (or arrived after its gap was
 * given up on) and is discarded. Pure: the owner keeps time.
 */
export class Sequencer<T> {
  /** The seq released next. */
  next = 1
  /** When (owner's clock, ms) the oldest message now held started waiting; meaningful while `held > 0`. */
  since = 0
  readonly #window: number
  readonly #held = new Map<number, T>()

  constructor (window: number) {
    this.#window = window
  }

  get held (): number { return this.#held.size }

  /** The fast path: true (and the caller releases the message) when `seq` is next and nothing is held. */
  inOrder (seq: number): boolean {
    if (seq !== this.next || this.#held.size > 0) return false
    this.next++
    return true
  }

  /**
   * Takes message `seq`: releases it (and any held successors) when it is next, holds it when it is
   * early, or refuses it (`false`) as a duplicate. A hold beyond the window skips gaps until it fits.
   * Returns false only for a duplicate; `dropped` receives the size of every skipped gap.
   */
  push (seq: number, item: T, now: number, release: (item: T, seq: number) => void, dropped: (n: number) => void): boolean {
    if (seq === this.next) {
      this.next++
      release(item, seq)
      if (this.#held.size > 0) {
        this.#releaseHeld(release)
        this.since = now
      }
      return true
    }
    if (seq < this.next || this.#held.has(seq)) return false
    if (this.#held.size === 0) this.since = now
    this.#held.set(seq, item)
    while (this.#held.size > this.#window) this.skip(now, release, dropped)
    return true
  }

  /** Gives up on the gap before the lowest held message: counts it dropped and releases what follows. */
  skip (now: number, release: (item: T, seq: number) => void, dropped: (n: number) => void): void {
    if (this.#held.size === 0) return
    let lowest = Infinity
    for (const seq of this.#held.keys()) if (seq < lowest) lowest = seq
    dropped(lowest - this.next)
    this.next = lowest
    this.#releaseHeld(release)
    this.since = now
  }

  /** Removes and returns the held messages (their subscription ended). */
  drain (): T[] {
    const items = [...this.#held.values()]
    this.#held.clear()
    return items
  }

  #releaseHeld (release: (item: T, seq: number) => void): void {
    for (let item = this.#held.get(this.next); item !== undefined; item = this.#held.get(this.next)) {
      this.#held.delete(this.next)
      release(item, this.next++)
    }
  }
}
