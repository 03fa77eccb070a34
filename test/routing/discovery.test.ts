import { describe, expect, it } from 'vitest'
import { RouteDiscovery } from '../../src/routing/discovery.js'
import { RouteTable } from '../../src/routing/route-table.js'
import { identities } from './topology.js'

function discovery (self: string, connected: Set<string>, table: RouteTable): RouteDiscovery {
  return new RouteDiscovery({
    self,
    table,
    neighbours: () => [],
    isConnected: (id) => connected.has(id),
    ask: async () => { throw new Error('no neighbours in this test') }
  })
}

describe('RouteDiscovery', () => {
  it('answers from its route table only while the first hop of the route is connected', async () => {
    const [s, x, d] = (await identities(3)).map(i => i.id)
    const table = new RouteTable(100, 60_000)
    table.set(d, [s, x, d])
    const deadline = performance.now() + 1_000
    expect(await discovery(s, new Set([x]), table).find({ destination: d, explored: [], budget: 8 }, deadline)).toEqual({ path: [x, d], explored: [] })
    const lost = await discovery(s, new Set(), table).find({ destination: d, explored: [], budget: 8 }, deadline)
    expect(lost.path).toBeUndefined()
    expect(table.get(d)).toBeUndefined()
  })
})
