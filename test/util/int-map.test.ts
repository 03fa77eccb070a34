import { describe, expect, it } from 'vitest'
import { IntMap } from '../../src/util/int-map.js'
import { prng } from '../prng.js'

describe('IntMap', () => {
  it('agrees with a Map over random sets, gets and deletes of random u32 keys (colliding ones, and clusters that wrap around the table)', () => {
    for (let seed = 1; seed <= 60; seed++) {
      const random = prng(seed)
      const distinct = [8, 60, 600][seed % 3]
      const keys = Array.from({ length: distinct }, () => Math.floor(random() * 2 ** 32))
      const map = new IntMap<string>(4)
      const reference = new Map<number, string>()
      for (let i = 0; i < 5_000; i++) {
        const key = keys[Math.floor(random() * distinct)]
        const op = random()
        if (op < 0.45) {
          map.set(key, `v${i}`)
          reference.set(key, `v${i}`)
        } else if (op < 0.9) {
          expect(map.delete(key)).toBe(reference.delete(key))
        } else {
          expect(map.get(key)).toBe(reference.get(key))
          expect(map.has(key)).toBe(reference.has(key))
        }
        expect(map.size).toBe(reference.size)
      }
      for (const [key, value] of reference) expect(map.get(key)).toBe(value)
      expect([...map.values()].sort()).toEqual([...reference.values()].sort())
    }
  })

  it('grows past its initial capacity, lets values be deleted while they are iterated, and clears', () => {
    const map = new IntMap<number>(2)
    for (let k = 0; k < 1_000; k++) map.set(k * 7, k)
    expect(map.size).toBe(1_000)
    for (const v of map.values()) map.delete(v * 7)
    expect(map.size).toBe(0)
    map.set(5, 5)
    map.clear()
    expect([map.size, map.get(5)]).toEqual([0, undefined])
  })
})
