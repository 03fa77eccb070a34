import { expect } from 'vitest'
import type { Mesh, Message, Subscription } from '../../src/index.js'
import { startMesh } from '../helpers.js'

/** Reads a subscription with deadlines: `take(n, ms)` resolves with the next n messages, or fails naming how many came. */
export function reader<T = unknown> (sub: Subscription<T>): { take: (n: number, ms: number) => Promise<Array<Message<T>>> } {
  const it = sub[Symbol.asyncIterator]()
  return {
    take: async (n, ms) => {
      const out: Array<Message<T>> = []
      const deadline = performance.now() + ms
      while (out.length < n) {
        let timer: NodeJS.Timeout | undefined
        const late = new Promise<'late'>(resolve => { timer = setTimeout(() => { resolve('late') }, Math.max(1, deadline - performance.now())) })
        const next = await Promise.race([it.next(), late])
        clearTimeout(timer)
        if (next === 'late') throw new Error(`${sub.pattern}: ${out.length} of ${n} messages within ${ms} ms (dropped ${sub.dropped})`)
        if (next.done === true) throw new Error(`${sub.pattern} ended after ${out.length} of ${n} messages`)
        out.push(next.value)
      }
      return out
    }
  }
}

/** Each publisher's messages arrive in order (data.i counts up), numbered 1, 2, 3, … with no gap and no repeat. */
export function expectInOrder (messages: Array<Message<{ i: number }>>, perPublisher: number, publishers: string[]): void {
  const byFrom = new Map<string, Array<Message<{ i: number }>>>()
  for (const m of messages) byFrom.set(m.from, [...byFrom.get(m.from) ?? [], m])
  expect([...byFrom.keys()].sort()).toEqual([...publishers].sort())
  for (const [from, list] of byFrom) {
    expect(list.map(m => m.seq), from).toEqual(Array.from({ length: perPublisher }, (_, i) => i + 1))
    expect(list.map(m => m.data.i), from).toEqual(Array.from({ length: perPublisher }, (_, i) => i))
  }
}

/** Starts `n` public nodes on loopback, each joining through an earlier one (a binary tree). */
export async function startNodes (n: number, first?: Mesh): Promise<Mesh[]> {
  const nodes: Mesh[] = first === undefined ? [] : [first]
  while (nodes.length < n) {
    const parent = nodes[Math.floor((nodes.length - 1) / 2)]
    nodes.push(await startMesh(parent === undefined ? {} : { bootstrap: [parent.addresses[0]] }))
  }
  return nodes
}

/** Resolves as `promise` does, or fails naming `what` after `ms`. */
export async function within<T> (promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`gave up waiting ${ms} ms for ${what}`)) }, ms) })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}
