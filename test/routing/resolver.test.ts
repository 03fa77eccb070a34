import { describe, expect, it } from 'vitest'
import type { FindRouteRequest, RouteDiscovery } from '../../src/routing/discovery.js'
import { deepening, Resolver } from '../../src/routing/resolver.js'
import { RouteTable } from '../../src/routing/route-table.js'
import { createCounters } from '../../src/stats.js'

function resolver (room: boolean, asked: string[], table = new RouteTable(100, 60_000)): Resolver {
  return new Resolver({
    self: 'S',
    table,
    discovery: {
      find: async (request: FindRouteRequest) => {
        asked.push(`discovery avoiding [${request.explored.join(' ')}]`)
        return { path: ['N', 'D'], explored: [] }
      }
    } as unknown as RouteDiscovery,
    counters: createCounters(),
    connectDirect: async (id) => { if (id !== 'G') throw new Error(`${id} cannot be dialled`) },
    gateways: async () => { asked.push('gateways'); return ['G'] },
    hasRoom: () => room,
    negativeTtl: 1_000
  })
}

describe('Resolver', () => {
  it('routes through a gateway the destination advertises when a direct dial fails', async () => {
    const asked: string[] = []
    expect(await resolver(true, asked).resolve('D', 8, performance.now() + 1_000)).toEqual(['S', 'G', 'D'])
    expect(asked).toEqual(['gateways'])
  })

  it('at its connection limit skips the DHT lookup of gateway records and asks its neighbours', async () => {
    const asked: string[] = []
    expect(await resolver(false, asked).resolve('D', 8, performance.now() + 1_000)).toEqual(['S', 'N', 'D'])
    expect(asked).toEqual(['discovery avoiding []'])
  })

  it('searches for short routes first: 3 hops, then 5, then the budget', () => {
    expect(deepening(8)).toEqual([3, 5, 8])
    expect(deepening(4)).toEqual([3, 4])
    expect(deepening(2)).toEqual([2])
    expect(deepening(32)).toEqual([3, 5, 32])
  })

  it('after a failure searches around the nodes that failed: not the learned route, not those gateways', async () => {
    const asked: string[] = []
    const table = new RouteTable(100, 60_000)
    table.set('D', ['S', 'X', 'D'])
    expect(await resolver(true, asked, table).resolve('D', 8, performance.now() + 1_000, ['X', 'G'])).toEqual(['S', 'N', 'D'])
    expect(asked).toEqual(['gateways', 'discovery avoiding [X G]'])
  })
})
