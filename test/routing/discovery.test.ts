import { describe, expect, it } from 'vitest'
import { type FindRouteRequest, RouteDiscovery } from '../../src/routing/discovery.js'
import { RouteTable } from '../../src/routing/route-table.js'
import { identities } from './topology.js'

interface World { links: Set<string>, neighbours: string[], answers: Map<string, string[]>, asked: FindRouteRequest[] }

function discovery (self: string, table: RouteTable, world: World): RouteDiscovery {
  return new RouteDiscovery({
    self,
    table,
    neighbours: () => world.neighbours,
    link: async (id) => world.links.has(id),
    ask: async (neighbour, request) => {
      world.asked.push(request)
      const path = world.answers.get(neighbour)
      return path === undefined ? { explored: [neighbour] } : { path, explored: [] }
    }
  })
}

describe('RouteDiscovery', () => {
  it('offers a destination as the next hop only when it can open a link to it', async () => {
    const [s, d] = (await identities(2)).map(i => i.id)
    const world: World = { links: new Set([d]), neighbours: [], answers: new Map(), asked: [] }
    const deadline = performance.now() + 1_000
    expect(await discovery(s, new RouteTable(100, 60_000), world).find({ destination: d, explored: [], budget: 8 }, deadline)).toEqual({ path: [d], explored: [] })
    world.links.clear()
    expect((await discovery(s, new RouteTable(100, 60_000), world).find({ destination: d, explored: [], budget: 8 }, deadline)).path).toBeUndefined()
  })

  it('never hands out a route it learned earlier (links change), searches afresh and learns the new one', async () => {
    const [s, x, y, d] = (await identities(4)).map(i => i.id)
    const table = new RouteTable(100, 60_000)
    table.set(d, [s, x, d])
    const world: World = { links: new Set(), neighbours: [y], answers: new Map([[y, [d]]]), asked: [] }
    const found = await discovery(s, table, world).find({ destination: d, explored: [], budget: 8 }, performance.now() + 1_000)
    expect(found.path).toEqual([y, d])
    expect(world.asked).toHaveLength(1)
    expect(table.get(d)).toEqual([s, y, d])
  })

  it('does not ask the nodes in explored (nodes that failed the call before, or are already on the path)', async () => {
    const [s, x, y, d] = (await identities(4)).map(i => i.id)
    const world: World = { links: new Set(), neighbours: [x, y], answers: new Map([[x, [d]], [y, [d]]]), asked: [] }
    const found = await discovery(s, new RouteTable(100, 60_000), world).find({ destination: d, explored: [x], budget: 8 }, performance.now() + 1_000)
    expect(found.path).toEqual([y, d])
    expect(world.asked.map(r => r.explored)).toEqual([[x, s]])
  })

  it('does not ask the destination for a route to itself when it has no link to it (that route would loop)', async () => {
    const [s, x, d] = (await identities(3)).map(i => i.id)
    const world: World = { links: new Set(), neighbours: [d, x], answers: new Map([[d, [x, d]], [x, [d]]]), asked: [] }
    const found = await discovery(s, new RouteTable(100, 60_000), world).find({ destination: d, explored: [], budget: 8 }, performance.now() + 1_000)
    expect(found.path).toEqual([x, d])
    expect(world.asked).toHaveLength(1)
    expect(await discovery(d, new RouteTable(100, 60_000), world).find({ destination: d, explored: [s], budget: 8 }, performance.now() + 1_000)).toEqual({ explored: [d] })
  })
})
