import { describe, expect, it } from 'vitest'
import { sha256Rounds } from '../../examples/cluster/actors.js'
import { MAX_NODES, MIN_NODES, plan, script } from '../../examples/cluster/topology.js'

describe('the cluster demo topology', () => {
  it('is a seed, two gateways, then two edges (outbound-only, behind the gateways) for each app', () => {
    expect(plan(6).map(n => `${n.name}:${n.role}:${n.reachability}`)).toEqual([
      'seed:seed:public', 'gw-a:gateway:public', 'gw-b:gateway:public',
      'edge-1:edge:outbound-only', 'edge-2:edge:outbound-only', 'app:app:public'
    ])
    for (const nodes of [MIN_NODES, 6, 9, MAX_NODES]) {
      const p = plan(nodes)
      expect(p).toHaveLength(nodes)
      expect(new Set(p.map(n => n.name)).size).toBe(nodes)
      for (const edge of p.filter(n => n.role === 'edge')) {
        expect(edge.allow).toEqual(['gw-a', 'gw-b'])
        expect(edge.bootstrap).toEqual(['gw-a', 'gw-b'])
      }
      // every call of the script names nodes that exist
      for (const call of script(p, sha256Rounds)) {
        expect(p.map(n => n.name)).toEqual(expect.arrayContaining([call.from, call.to]))
      }
    }
  })

  it('refuses node counts it cannot lay out', () => {
    for (const nodes of [MIN_NODES - 1, MAX_NODES + 1, 6.5]) expect(() => plan(nodes)).toThrow(RangeError)
  })
})
