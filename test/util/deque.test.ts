import { describe, it, expect } from 'vitest'
import { Deque } from '../../src/util/deque.js'

describe('Deque', () => {
  it('is empty when new', () => {
    const q = new Deque<number>()
    expect(q.length).toBe(0)
    expect(q.peek()).toBeUndefined()
    expect(q.shift()).toBeUndefined()
    expect(q.drain()).toEqual([])
  })

  it('returns items in FIFO order while growing far beyond its initial capacity', () => {
    const q = new Deque<number>()
    for (let i = 0; i < 1000; i++) q.push(i)
    expect(q.length).toBe(1000)
    const out: number[] = []
    for (let i = 0; i < 1000; i++) out.push(q.shift() as number)
    expect(out).toEqual(Array.from({ length: 1000 }, (_, i) => i))
    expect(q.length).toBe(0)
    expect(q.shift()).toBeUndefined()
  })

  it('keeps FIFO order when pushes and shifts interleave across growth and wrap-around', () => {
    const q = new Deque<number>()
    const model: number[] = []
    const out: number[] = []
    let next = 0
    // Two pushes per shift grows the ring while its head keeps moving, so it wraps before each growth.
    for (let step = 0; step < 1000; step++) {
      q.push(next)
      model.push(next++)
      if (step % 3 !== 2) {
        q.push(next)
        model.push(next++)
      }
      out.push(q.shift() as number)
      model.shift()
      expect(q.length).toBe(model.length)
      expect(q.peek()).toBe(model[0])
    }
    // then drain it down through the wrapped ring
    for (let i = 0; i < 2000 && q.length > 0; i++) out.push(q.shift() as number)
    expect(out).toEqual(Array.from({ length: next }, (_, i) => i))
    expect(q.length).toBe(0)
  })

  it('refills in order after being emptied', () => {
    const q = new Deque<string>()
    for (let round = 0; round < 5; round++) {
      const items = Array.from({ length: 10 + round * 17 }, (_, i) => `${round}:${i}`)
      for (const item of items) q.push(item)
      expect(q.drain()).toEqual(items)
      expect(q.length).toBe(0)
    }
  })

  it('peeks at the head without removing it', () => {
    const q = new Deque<string>()
    q.push('a')
    q.push('b')
    expect(q.peek()).toBe('a')
    expect(q.peek()).toBe('a')
    expect(q.length).toBe(2)
    expect(q.shift()).toBe('a')
    expect(q.peek()).toBe('b')
  })

  it('drains every item in order and leaves the deque empty and usable', () => {
    const q = new Deque<{ n: number }>()
    const items = Array.from({ length: 100 }, (_, n) => ({ n }))
    for (const item of items.slice(0, 40)) q.push(item)
    for (let i = 0; i < 25; i++) q.shift()
    for (const item of items.slice(40)) q.push(item)
    const drained = q.drain()
    expect(drained).toEqual(items.slice(25))
    expect(drained[0]).toBe(items[25]) // the same objects, not copies
    expect(q.length).toBe(0)
    expect(q.peek()).toBeUndefined()
    q.push({ n: -1 })
    expect(q.drain()).toEqual([{ n: -1 }])
  })

  it('keeps falsy items', () => {
    const q = new Deque<number | string | boolean | null>()
    for (const item of [0, '', false, null]) q.push(item)
    expect(q.length).toBe(4)
    expect(q.shift()).toBe(0)
    expect(q.shift()).toBe('')
    expect(q.shift()).toBe(false)
    expect(q.shift()).toBeNull()
  })
})
