/**
 * Anti-replay window over packet numbers (RFC 6479 / WireGuard style): remembers the highest
 * packet number accepted and which of the WINDOW below it arrived. A packet number seen before,
 * or older than the window, is refused. Pure.
 *
 * `accept` must only be called after the datagram authenticated: otherwise a forger could move
 * the window and make genuine datagrams look old.
 */
export const REPLAY_WINDOW = 4096

export class ReplayWindow {
  readonly #bits = new Uint32Array(REPLAY_WINDOW / 32)
  /** Highest packet number accepted (-1: none yet). */
  #top = -1

  /** True when `packet` is new and recent enough to be accepted. */
  check (packet: number): boolean {
    if (packet > this.#top) return true
    if (this.#top - packet >= REPLAY_WINDOW) return false
    return !this.#has(packet)
  }

  /** Records `packet` as received (call {@link check} first). */
  accept (packet: number): void {
    if (packet > this.#top) {
      if (this.#top >= 0) {
        // the slots of top+1..packet held packets that now fall out of the window
        const gap = Math.min(packet - this.#top, REPLAY_WINDOW)
        for (let i = 1; i <= gap; i++) this.#clear(this.#top + i)
      }
      this.#top = packet
    }
    const slot = packet % REPLAY_WINDOW
    this.#bits[slot >>> 5] |= 1 << (slot & 31)
  }

  #has (packet: number): boolean {
    const slot = packet % REPLAY_WINDOW
    return (this.#bits[slot >>> 5] & (1 << (slot & 31))) !== 0
  }

  #clear (packet: number): void {
    const slot = packet % REPLAY_WINDOW
    this.#bits[slot >>> 5] &= ~(1 << (slot & 31))
  }
}
