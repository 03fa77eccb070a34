import { describe, expect, it } from 'vitest'
import { Sequencer } from '../../src/pubsub/sequencer.js'
import { prng } from '../prng.js'

function harness (window = 8): { seq: Sequencer<string>, out: number[], drops: number[], push: (n: number, now?: number) => boolean, skip: (now?: number) => void } {
  const seq = new Sequencer<string>(window)
  const out: number[] = []
  const drops: number[] = []
  const release = (_item: string, n: number): void => { out.push(n) }
  const dropped = (n: number): void => { drops.push(n) }
  return { seq, out, drops, push: (n, now = 0) => seq.push(n, `m${n}`, now, release, dropped), skip: (now = 0) => { seq.skip(now, release, dropped) } }
}

describe('Sequencer', () => {
  it('releases in order what arrives out of order, and refuses duplicates', () => {
    const h = harness()
    for (const n of [2, 3, 1, 1, 5, 4, 3, 6]) h.push(n)
    expect(h.out).toEqual([1, 2, 3, 4, 5, 6])
    expect(h.push(2)).toBe(false)
    expect(h.drops).toEqual([])
  })

  it('gives up on a gap when told, counting it, and refuses the late message', () => {
    const h = harness()
    h.push(1); h.push(4, 10); h.push(5)
    expect(h.out).toEqual([1])
    expect(h.seq.held).toBe(2)
    expect(h.seq.since).toBe(10)
    h.skip(20)
    expect(h.out).toEqual([1, 4, 5])
    expect(h.drops).toEqual([2])
    expect(h.push(3)).toBe(false)
    expect(h.push(6)).toBe(true)
    expect(h.out).toEqual([1, 4, 5, 6])
  })

  it('skips gaps when more than the window is held', () => {
    const h = harness(3)
    for (const n of [3, 4, 5]) h.push(n)
    expect(h.out).toEqual([])
    h.push(7)
    expect(h.out).toEqual([3, 4, 5])
    expect(h.drops).toEqual([2])
    expect(h.seq.held).toBe(1)
  })

  it('releases every seq exactly once and counts every missing one, whatever the order (random)', () => {
    const rng = prng(11)
    for (let round = 0; round < 200; round++) {
      const h = harness(16)
      const n = 200
      const lost = new Set(Array.from({ length: 10 }, () => 1 + Math.floor(rng() * n)))
      const order = Array.from({ length: n }, (_, i) => i + 1).filter(i => !lost.has(i))
      // local shuffles: each message moves at most 8 places
      for (let i = 0; i < order.length; i++) {
        const j = Math.min(order.length - 1, i + Math.floor(rng() * 8))
        const t = order[i]; order[i] = order[j]; order[j] = t
      }
      for (const s of order) { h.push(s); if (rng() < 0.02) h.push(s) }
      while (h.seq.held > 0) h.skip()
      const released = new Set(h.out)
      expect(released.size).toBe(h.out.length)
      expect([...h.out].sort((a, b) => a - b)).toEqual(h.out)
      expect(h.out.length + h.drops.reduce((a, b) => a + b, 0)).toBe(Math.max(...order))
    }
  })
})
