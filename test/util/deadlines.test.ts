import { afterEach, beforeEach, describe, it, expect, vi } from 'vitest'
import { DEADLINE_RESOLUTION_MS, Deadlines, type Expirable } from '../../src/util/deadlines.js'

class Item implements Expirable {
  readonly name: string
  readonly deadline: number
  deadlineSlot = 0
  expired = 0
  readonly #log: string[]
  readonly #onExpire: (() => void) | undefined

  constructor (name: string, deadline: number, log: string[], onExpire?: () => void) {
    this.name = name
    this.deadline = deadline
    this.#log = log
    this.#onExpire = onExpire
  }

  expire (): void {
    this.expired++
    this.#log.push(this.name)
    this.#onExpire?.()
  }
}

describe('Deadlines', () => {
  let log: string[]
  let deadlines: Deadlines<Item>
  /** performance.now() when the test started; deadlines are set relative to it. */
  let t0: number

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'performance'] })
    log = []
    deadlines = new Deadlines<Item>()
    t0 = performance.now()
  })

  afterEach(() => {
    deadlines.drain()
    vi.useRealTimers()
  })

  function add (name: string, inMs: number, onExpire?: () => void): Item {
    const item = new Item(name, t0 + inMs, log, onExpire)
    deadlines.add(item)
    return item
  }

  it('fakes performance.now() together with the timers', () => {
    vi.advanceTimersByTime(1234)
    expect(performance.now() - t0).toBe(1234)
  })

  it('expires an item once its deadline has passed, and only once', () => {
    const item = add('a', 100)
    expect(deadlines.size).toBe(1)
    vi.advanceTimersByTime(100 + DEADLINE_RESOLUTION_MS)
    expect(item.expired).toBe(1)
    expect(deadlines.size).toBe(0)
    vi.advanceTimersByTime(10_000)
    expect(item.expired).toBe(1)
    expect(log).toEqual(['a'])
  })

  it('does not expire an item before its deadline', () => {
    // deadlines on and off slot boundaries
    for (const inMs of [1, 3, 4, 5, 99, 100, 101, 1001]) {
      const item = new Item(`in ${inMs}`, performance.now() + inMs, log)
      deadlines.add(item)
      vi.advanceTimersByTime(inMs - 1)
      expect(performance.now()).toBeLessThan(item.deadline)
      expect(item.expired).toBe(0)
      vi.advanceTimersByTime(1 + DEADLINE_RESOLUTION_MS)
      expect(performance.now()).toBeGreaterThanOrEqual(item.deadline)
      expect(item.expired).toBe(1)
    }
  })

  it('records the time of expiry no earlier than the deadline', () => {
    const seen: Array<[number, number]> = []
    const items: Item[] = []
    for (const inMs of [7, 8, 9, 10, 33, 250, 251]) {
      const item: Item = add(String(inMs), inMs, () => { seen.push([performance.now(), item.deadline]) })
      items.push(item)
    }
    vi.advanceTimersByTime(1000)
    expect(seen).toHaveLength(items.length)
    for (const [at, deadline] of seen) expect(at).toBeGreaterThanOrEqual(deadline)
  })

  it('expires items in deadline order across slots, whatever order they were added in', () => {
    const order = [500, 20, 300, 4, 1000, 21, 60, 8, 2000, 100]
    for (const inMs of order) add(String(inMs), inMs)
    vi.advanceTimersByTime(2000 + DEADLINE_RESOLUTION_MS)
    expect(log).toEqual([...order].sort((a, b) => a - b).map(String))
  })

  it('expires items that share a slot together', () => {
    add('x', 41)
    add('y', 42)
    add('z', 43)
    vi.advanceTimersByTime(39)
    expect(log).toEqual([])
    vi.advanceTimersByTime(44 - 39)
    expect([...log].sort()).toEqual(['x', 'y', 'z'])
  })

  it('expires an item whose deadline has already passed as soon as the timers run', () => {
    const item = add('late', -50)
    expect(item.expired).toBe(0)
    vi.advanceTimersByTime(1)
    expect(item.expired).toBe(1)
  })

  it('never expires a deleted item', () => {
    const kept = add('kept', 50)
    const gone = add('gone', 50)
    const alone = add('alone', 20)
    deadlines.delete(gone)
    deadlines.delete(alone)
    expect(deadlines.size).toBe(1)
    vi.advanceTimersByTime(1000)
    expect(gone.expired).toBe(0)
    expect(alone.expired).toBe(0)
    expect(kept.expired).toBe(1)
    expect(log).toEqual(['kept'])
  })

  it('never expires an item deleted by another item\'s expire() in the same slot', () => {
    const second = new Item('second', t0 + 40, log)
    const first = add('first', 40, () => { deadlines.delete(second) })
    deadlines.add(second) // after first, so first expires first
    vi.advanceTimersByTime(100)
    expect(first.expired).toBe(1)
    expect(second.expired).toBe(0)
    expect(log).toEqual(['first'])
  })

  it('never expires an item deleted by an earlier slot\'s expire() in the same tick', () => {
    const second = new Item('second', t0 - 20, log)
    add('first', -40, () => { deadlines.delete(second) })
    deadlines.add(second)
    vi.advanceTimersByTime(1) // both slots are overdue, so one timer tick handles both
    expect(second.expired).toBe(0)
    expect(log).toEqual(['first'])
  })

  it('expires an overdue item added to the slot being expired, and a later one added after it emptied', () => {
    let late: Item | undefined
    const a = add('a', 40, () => { add('same slot', 40) })
    const b = add('b', 40, () => {
      deadlines.delete(a) // a already expired: a no-op
      late = add('later', 41)
    })
    vi.advanceTimersByTime(40 + DEADLINE_RESOLUTION_MS)
    expect(a.expired).toBe(1)
    expect(b.expired).toBe(1)
    expect(log).toContain('same slot')
    vi.advanceTimersByTime(100)
    expect(late?.expired).toBe(1)
    expect(deadlines.size).toBe(0)
    expect(log).toHaveLength(4)
  })

  it('ignores deleting an item twice or one it never held', () => {
    const item = add('a', 10)
    deadlines.delete(item)
    deadlines.delete(item)
    deadlines.delete(new Item('stranger', t0 + 10, log))
    const other = add('b', 10)
    vi.advanceTimersByTime(100)
    expect(log).toEqual(['b'])
    expect(other.expired).toBe(1)
  })

  it('expires an item added again after it was deleted', () => {
    const item = add('again', 30)
    deadlines.delete(item)
    deadlines.add(item)
    vi.advanceTimersByTime(100)
    expect(item.expired).toBe(1)
  })

  it('reschedules when an earlier deadline is added after a later one', () => {
    const later = add('later', 10_000)
    const earlier = add('earlier', 10)
    vi.advanceTimersByTime(10 + DEADLINE_RESOLUTION_MS)
    expect(earlier.expired).toBe(1)
    expect(later.expired).toBe(0)
    vi.advanceTimersByTime(10_000)
    expect(later.expired).toBe(1)
    expect(log).toEqual(['earlier', 'later'])
  })

  it('still expires later items after the earliest slot was emptied by deletes', () => {
    const first = add('first', 10)
    add('second', 200)
    deadlines.delete(first)
    vi.advanceTimersByTime(199)
    expect(log).toEqual([])
    vi.advanceTimersByTime(1 + DEADLINE_RESOLUTION_MS)
    expect(log).toEqual(['second'])
  })

  it('drain() returns the live items and expires nothing', () => {
    const a = add('a', 10)
    const b = add('b', 10)
    const c = add('c', 5000)
    const d = add('d', 60)
    deadlines.delete(d)
    const drained = deadlines.drain()
    expect(new Set(drained)).toEqual(new Set([a, b, c]))
    expect(drained).toHaveLength(3)
    expect(deadlines.size).toBe(0)
    vi.advanceTimersByTime(10_000)
    expect(log).toEqual([])
    expect(vi.getTimerCount()).toBe(0)
  })

  it('keeps working after drain()', () => {
    add('old', 10)
    deadlines.drain()
    const fresh = add('fresh', 20)
    vi.advanceTimersByTime(20 + DEADLINE_RESOLUTION_MS)
    expect(fresh.expired).toBe(1)
    expect(log).toEqual(['fresh'])
  })

  it('expires an item added from inside another item\'s expire()', () => {
    let child: Item | undefined
    add('parent', 10, () => { child = add('child', 100) })
    vi.advanceTimersByTime(10 + DEADLINE_RESOLUTION_MS)
    expect(log).toEqual(['parent'])
    expect(child?.expired).toBe(0)
    vi.advanceTimersByTime(100)
    expect(log).toEqual(['parent', 'child'])
    expect(child?.expired).toBe(1)
  })

  it('expires an already-overdue item added from inside expire() without waiting for a later slot', () => {
    add('parent', 10, () => { add('overdue child', 5) })
    add('unrelated', 5000)
    vi.advanceTimersByTime(10 + DEADLINE_RESOLUTION_MS)
    expect(log).toEqual(['parent', 'overdue child'])
  })

  it('expires an item added from inside expire() before a later item that was already waiting', () => {
    add('parent', 10, () => { add('child', 50) })
    add('waiting', 400)
    vi.advanceTimersByTime(1000)
    expect(log).toEqual(['parent', 'child', 'waiting'])
  })

  it('holds many items with one timer', () => {
    const items: Item[] = []
    for (let i = 0; i < 1000; i++) items.push(add(String(i), 1 + (i * 37) % 3000))
    expect(vi.getTimerCount()).toBe(1)
    expect(deadlines.size).toBe(1000)
    vi.advanceTimersByTime(3000 + DEADLINE_RESOLUTION_MS)
    expect(items.every(item => item.expired === 1)).toBe(true)
    expect(vi.getTimerCount()).toBe(0)
  })
})
