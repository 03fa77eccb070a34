import { describe, expect, it } from 'vitest'
import { Directory } from '../../src/pubsub/directory.js'

let v = 1

describe('Directory', () => {
  it('routes a topic to the nodes whose subscriptions match, under its key and under *', () => {
    const d = new Directory()
    d.set('n1', 'a', { subs: [[1, 'a/b'], [2, 'a/*']], v: v++ })
    d.set('n2', '*', { subs: [[3, '*/b']], v: v++ })
    d.set('n3', 'c', { subs: [[4, 'c']], v: v++ })
    const routes = d.route('a/b')
    expect(routes.nodes).toEqual(['n1', 'n2'])
    expect(routes.targets[0].subs.map(s => s.id)).toEqual([1, 2])
    expect(d.route('a/x').nodes).toEqual(['n1'])
    expect(d.route('c').nodes).toEqual(['n3'])
    expect(d.route('zzz').nodes).toEqual([])
  })

  it('keeps a subscription\'s sequence across updates, and forgets a node left without subscriptions', () => {
    const d = new Directory()
    d.set('n1', 'a', { subs: [[1, 'a']], v: v++ })
    d.route('a').targets[0].subs[0].seq = 5
    d.set('n1', 'a', { subs: [[1, 'a'], [2, 'a/*']], v: v++ })
    expect(d.route('a').targets[0].subs[0].seq).toBe(5)
    d.set('n1', 'a', { subs: [], v: v++ })
    expect(d.route('a').nodes).toEqual([])
    expect(d.has('n1')).toBe(false)
  })

  it('ignores an announcement older than the one it applied', () => {
    const d = new Directory()
    expect(d.set('n1', 'a', { subs: [[1, 'a']], v: 10 })).toBe(true)
    expect(d.set('n1', 'a', { subs: [], v: 9 })).toBe(false)
    expect(d.route('a').nodes).toEqual(['n1'])
    expect(d.set('n1', 'a', { subs: [], v: 11 })).toBe(true)
    expect(d.route('a').nodes).toEqual([])
  })

  it('forgets a node with its sequences', () => {
    const d = new Directory()
    d.set('n1', 'a', { subs: [[1, 'a']], v: v++ })
    d.route('a').targets[0].subs[0].seq = 5
    expect(d.forget('n1')).toBe(true)
    expect(d.forget('n1')).toBe(false)
    expect(d.route('a').nodes).toEqual([])
    d.set('n1', 'a', { subs: [[1, 'a']], v: v++ })
    expect(d.route('a').targets[0].subs[0].seq).toBe(0)
  })
})
