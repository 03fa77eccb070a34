import { describe, expect, it } from 'vitest'
import { planNeighbours } from '../../src/routing/neighbours.js'
import { commonPrefixLength, kadKey } from '../../src/routing/xor.js'
import { identities } from './topology.js'

describe('planNeighbours', () => {
  it('dials one peer for each k-bucket without a connection and keeps one connection per bucket', async () => {
    const [self, ...others] = (await identities(24)).map(i => i.id)
    const bucket = (id: string): number => commonPrefixLength(kadKey(self), kadKey(id))
    const plan = planNeighbours({ self, connected: [], known: others, target: 100, maxDials: 100 })
    const buckets = new Set(others.map(bucket))
    expect(plan.dial.map(bucket).sort()).toEqual([...buckets].sort())
    expect(plan.close).toEqual([])

    const connected = others.slice(0, 12)
    const full = planNeighbours({ self, connected, known: others, target: 12, maxDials: 100 })
    expect(new Set(full.keep.map(bucket)).size).toBe(full.keep.length)
    expect(new Set(full.keep.map(bucket))).toEqual(new Set(connected.map(bucket)))
    // at the target: every dial is paid for by closing a redundant connection, never a kept one
    expect(full.close.length).toBe(full.dial.length)
    for (const id of full.close) expect(full.keep).not.toContain(id)
    for (const id of full.dial) expect(connected.map(bucket)).not.toContain(bucket(id))
  })

  it('above the ceiling closes redundant connections only: those no peer keeps first, never protected ones, never a bucket\'s last', async () => {
    const [self, ...others] = (await identities(24)).map(i => i.id)
    const covering = new Set(planNeighbours({ self, connected: others, known: others, target: 100, maxDials: 2 }).keep)
    const redundant = others.filter(id => !covering.has(id))
    const protect = new Set(redundant.slice(0, 2))
    const keptBy = new Set(redundant.slice(2, 4))
    // ceiling = target: every closable redundant connection is in excess, whatever the buckets
    const plan = planNeighbours({ self, connected: others, known: others, target: 4, ceiling: 4, maxDials: 2, protect, keptBy })
    expect(plan.dial).toEqual([])
    expect(plan.close.length).toBe(redundant.length - protect.size)
    for (const id of plan.close) expect(covering.has(id) || protect.has(id)).toBe(false)
    expect(plan.close.slice(-keptBy.size).sort()).toEqual([...keptBy].sort())
    // at or below the ceiling nothing is closed, even above the target (unless to make room for a dial)
    expect(planNeighbours({ self, connected: others.slice(0, 6), known: others.slice(0, 6), target: 4, ceiling: 6, maxDials: 2 }).close).toEqual([])
  })

  it('dials at most maxDials per round', async () => {
    const [self, ...others] = (await identities(24)).map(i => i.id)
    expect(planNeighbours({ self, connected: [], known: others, target: 100, maxDials: 2 }).dial.length).toBeLessThanOrEqual(2)
  })
})
