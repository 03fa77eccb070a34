import { describe, expect, it } from 'vitest'
import { Directory } from '../../src/pubsub/directory.js'

describe('Directory', () => {
  it('routes a topic to the nodes whose subscriptions match, under its key and under *', () => {
    const d = new Directory()
    d.set('n1', 'a', [[1, 'a/b'], [2, 'a/*']])
    d.set('n2', '*', [[3, '*/b']])
    d.set('n3', 'c', [[4, 'c']])
    const routes = d.route('a/b')
    expect(routes.nodes).toEqual(['n1', 'n2'])
    expect(routes.targets[0].subs.map(s => s.id)).toEqual([1, 2])
    expect(d.route('a/x').nodes).toEqual(['n1'])
    expect(d.route('c').nodes).toEqual(['n3'])
    expect(d.route('zzz').nodes).toEqual([])
  })

  it('keeps a subscription\'s sequence across updates, also when it was removed and comes back', () => {
    const d = new Directory()
    d.set('n1', 'a', [[1, 'a']])
    d.route('a').targets[0].subs[0].seq = 5
    d.set('n1', 'a', [[1, 'a'], [2, 'a/*']])
    expect(d.route('a').targets[0].subs[0].seq).toBe(5)
    d.set('n1', 'a', [])
    expect(d.route('a').nodes).toEqual([])
    d.set('n1', 'a', [[1, 'a']])
    expect(d.route('a').targets[0].subs[0].seq).toBe(5)
  })

  it('forgets a node with its sequences', () => {
    const d = new Directory()
    d.set('n1', 'a', [[1, 'a']])
    d.route('a').targets[0].subs[0].seq = 5
    expect(d.forget('n1')).toBe(true)
    expect(d.forget('n1')).toBe(false)
    expect(d.route('a').nodes).toEqual([])
    d.set('n1', 'a', [[1, 'a']])
    expect(d.route('a').targets[0].subs[0].seq).toBe(0)
  })
})
