/** Something with a deadline. `deadlineSlot` is owned by {@link Deadlines}. */
export interface Expirable {
  /** Monotonic time (performance.now() ms) at which `expire` is called. */
  readonly deadline: number
  deadlineSlot: number
  expire (): void
}

/** Deadlines are grouped into slots this many ms wide; an item expires at most this late. */
export const DEADLINE_RESOLUTION_MS = 4
/** Added items wait in a plain array until the tick ends; past this many they are placed at once. */
const FRESH_LIMIT = 4096
/** `deadlineSlot` of an item added this tick and not yet placed in a slot (no slot key is infinite). */
const FRESH = -Infinity
/** `deadlineSlot` of an item deleted before it was placed. */
const GONE = Infinity

/**
 * One timer for any number of deadlines. Items are grouped into slots of DEADLINE_RESOLUTION_MS;
 * adding and deleting are O(1) Set operations and only live items are held, so a steady stream of
 * calls that finish in time costs no timer churn. (A setTimeout per call costs several times more,
 * and a heap with lazy deletion holds every call until its deadline: 30 s × 160k calls/s.)
 * Items are placed in their slot only when the tick that added them ends (setImmediate): most
 * local calls settle within it and never touch a slot.
 */
export class Deadlines<T extends Expirable> {
  readonly #slots = new Map<number, Set<T>>()
  /** Min-heap of slot keys, each at most once; a key whose slot is gone is skipped. */
  readonly #keys: number[] = []
  readonly #inHeap = new Set<number>()
  #fresh: T[] = []
  #sweepQueued = false
  #timer: ReturnType<typeof setTimeout> | undefined
  #timerSlot = Infinity

  get size (): number {
    let n = 0
    for (const slot of this.#slots.values()) n += slot.size
    for (const item of this.#fresh) if (item.deadlineSlot === FRESH) n++
    return n
  }

  add (item: T): void {
    item.deadlineSlot = FRESH
    this.#fresh.push(item)
    if (this.#fresh.length >= FRESH_LIMIT) {
      this.#sweep()
    } else if (!this.#sweepQueued) {
      this.#sweepQueued = true
      setImmediate(this.#sweep)
    }
  }

  delete (item: T): void {
    if (item.deadlineSlot === FRESH || item.deadlineSlot === GONE) {
      item.deadlineSlot = GONE
      return
    }
    const slot = this.#slots.get(item.deadlineSlot)
    if (slot === undefined) return
    slot.delete(item)
    if (slot.size === 0) this.#slots.delete(item.deadlineSlot)
  }

  /** Places the items added since the last sweep that are still live. */
  #sweep = (): void => {
    this.#sweepQueued = false
    const fresh = this.#fresh
    this.#fresh = []
    for (const item of fresh) if (item.deadlineSlot === FRESH) this.#place(item)
  }

  #place (item: T): void {
    const key = Math.ceil(item.deadline / DEADLINE_RESOLUTION_MS)
    item.deadlineSlot = key
    let slot = this.#slots.get(key)
    if (slot === undefined) {
      slot = new Set()
      this.#slots.set(key, slot)
      if (!this.#inHeap.has(key)) {
        this.#inHeap.add(key)
        heapPush(this.#keys, key)
      }
      if (key < this.#timerSlot) this.#schedule(key)
    }
    slot.add(item)
  }

  /** Cancels the timer and returns every item without expiring it. */
  drain (): T[] {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#timerSlot = Infinity
    const items: T[] = this.#fresh.filter(item => item.deadlineSlot === FRESH)
    this.#fresh = []
    for (const slot of this.#slots.values()) items.push(...slot)
    this.#slots.clear()
    this.#keys.length = 0
    this.#inHeap.clear()
    return items
  }

  #schedule (key: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timerSlot = key
    const delay = Math.max(0, key * DEADLINE_RESOLUTION_MS - performance.now())
    this.#timer = setTimeout(this.#fire, delay)
  }

  #fire = (): void => {
    this.#timer = undefined
    this.#timerSlot = Infinity
    const now = performance.now()
    while (this.#keys.length > 0) {
      const key = this.#keys[0]
      const slot = this.#slots.get(key)
      if (slot !== undefined && key * DEADLINE_RESOLUTION_MS > now) { this.#schedule(key); return }
      heapPop(this.#keys)
      this.#inHeap.delete(key)
      if (slot === undefined) continue
      // The slot stays in the map while it is expired, so an expire() that deletes a sibling
      // still stops it (Set iteration skips deleted items and visits ones added meanwhile).
      for (const item of slot) {
        slot.delete(item)
        item.expire()
      }
      if (this.#slots.get(key) === slot) this.#slots.delete(key)
    }
  }
}

function heapPush (heap: number[], value: number): void {
  let i = heap.push(value) - 1
  while (i > 0) {
    const parent = (i - 1) >> 1
    if (heap[parent] <= value) break
    heap[i] = heap[parent]
    i = parent
  }
  heap[i] = value
}

function heapPop (heap: number[]): void {
  const last = heap.pop()
  if (last === undefined || heap.length === 0) return
  let i = 0
  const n = heap.length
  for (;;) {
    let child = 2 * i + 1
    if (child >= n) break
    if (child + 1 < n && heap[child + 1] < heap[child]) child++
    if (heap[child] >= last) break
    heap[i] = heap[child]
    i = child
  }
  heap[i] = last
}
