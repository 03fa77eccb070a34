import { describe, expect, it } from 'vitest'
import { RouteTable } from '../../src/routing/route-table.js'

describe('RouteTable', () => {
  it('returns a learned path until it expires, then forgets it', () => {
    const table = new RouteTable(10, 1_000)
    table.set('d', ['a', 'b', 'd'], 0)
    expect(table.get('d', 999)).toEqual(['a', 'b', 'd'])
    expect(table.get('d', 1_000)).toBeUndefined()
    expect(table.entries()).toEqual([])
  })

  it('drops the least recently learned route when full, and relearning refreshes a route', () => {
    const table = new RouteTable(2, 60_000)
    table.set('x', ['a', 'x'], 0)
    table.set('y', ['a', 'y'], 0)
    table.set('x', ['a', 'b', 'x'], 1)
    table.set('z', ['a', 'z'], 2)
    expect(table.get('y', 3)).toBeUndefined()
    expect(table.get('x', 3)).toEqual(['a', 'b', 'x'])
    expect(table.get('z', 3)).toEqual(['a', 'z'])
  })

  it('forgets a route on delete', () => {
    const table = new RouteTable(2, 60_000)
    table.set('x', ['a', 'x'], 0)
    table.delete('x')
    expect(table.get('x', 1)).toBeUndefined()
  })
})
