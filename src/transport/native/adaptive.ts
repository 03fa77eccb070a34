/**
 * The hybrid consumer policy shared by the shm ring and the busy-poll UDP receiver: poll on every
 * event-loop turn (`setImmediate`) while work keeps arriving and for a short idle budget after it
 * stops, then arm a wake-up (doorbell fd or socket in uv_poll) and leave the loop idle.
 *
 * Why: on this class of machine (2 vCPU VM, haltpoll with no guest halt-polling) a wake-up costs
 * 10–45 µs while a `setImmediate` drain loop answers in ~1.3 µs, and a consumer that re-arms after
 * every drain makes the producer pay a wake syscall per few messages (8.7–15 M msgs/s vs 23–29 M
 * when polling). notes/native-fast-path.md §C. Pure policy: the work, the arming and the clock are
 * injected, so it is unit-tested without the addon.
 */

/** Construction options of {@link AdaptiveLoop}. */
export interface AdaptiveLoopInit {
  /** One unit of work; returns how many items it handled (0 = nothing to do). May throw. */
  poll: () => number
  /**
   * Called when the idle budget is spent. Arms the wake-up and returns true to go to sleep, or
   * returns false when work appeared meanwhile (the loop stays hot).
   */
  arm: () => boolean
  /** Microseconds to keep polling after the last item (0: arm after the first empty poll; Infinity: never sleep). */
  idleUs: number
  /** Called once if `poll` or `arm` throws; the loop is stopped. */
  onError: (err: unknown) => void
  /** Schedules the next turn (default `setImmediate`). */
  schedule?: (fn: () => void) => void
  /** Monotonic clock in milliseconds (default `performance.now`). */
  now?: () => number
}

/** Counters of an {@link AdaptiveLoop}. */
export interface AdaptiveLoopStats {
  /** Poll turns run. */
  turns: number
  /** Times the loop armed the wake-up and went idle. */
  sleeps: number
  /** Times a wake-up started a sleeping loop. */
  wakes: number
}

export class AdaptiveLoop {
  readonly #poll: () => number
  readonly #arm: () => boolean
  readonly #idleMs: number
  readonly #onError: (err: unknown) => void
  readonly #schedule: (fn: () => void) => void
  readonly #now: () => number
  readonly #turn = (): void => { this.#runTurn() }
  #hot = false
  #scheduled = false
  #stopped = false
  #lastActive = 0
  readonly #stats: AdaptiveLoopStats = { turns: 0, sleeps: 0, wakes: 0 }

  constructor (init: AdaptiveLoopInit) {
    if (!(init.idleUs >= 0)) throw new RangeError('idleUs must be >= 0')
    this.#poll = init.poll
    this.#arm = init.arm
    this.#idleMs = init.idleUs / 1000
    this.#onError = init.onError
    this.#schedule = init.schedule ?? setImmediate
    this.#now = init.now ?? performance.now.bind(performance)
  }

  /** True while polling on every turn. */
  get hot (): boolean {
    return this.#hot
  }

  get stopped (): boolean {
    return this.#stopped
  }

  stats (): AdaptiveLoopStats {
    return { ...this.#stats }
  }

  /** Starts polling (a wake-up arrived, or the consumer starts). No-op while hot or once stopped. */
  wake (): void {
    if (this.#stopped || this.#hot) return
    this.#hot = true
    this.#stats.wakes++
    this.#lastActive = this.#now()
    this.#scheduleTurn()
  }

  /** Stops for good; a turn already scheduled does nothing. Idempotent. */
  stop (): void {
    this.#stopped = true
    this.#hot = false
  }

  #scheduleTurn (): void {
    if (this.#scheduled) return
    this.#scheduled = true
    this.#schedule(this.#turn)
  }

  #runTurn (): void {
    this.#scheduled = false
    if (this.#stopped || !this.#hot) return
    this.#stats.turns++
    try {
      const n = this.#poll()
      if (this.#stopped) return
      const now = this.#now()
      if (n > 0) {
        this.#lastActive = now
      } else if (now - this.#lastActive >= this.#idleMs) {
        if (this.#arm()) {
          this.#hot = false
          this.#stats.sleeps++
          return
        }
        this.#lastActive = now
      }
    } catch (err) {
      this.stop()
      this.#onError(err)
      return
    }
    if (!this.#stopped) this.#scheduleTurn()
  }
}
