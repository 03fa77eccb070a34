/**
 * The cluster's shape, as data: which nodes run, which can be dialled, who sits behind which
 * gateways, which actors each hosts, and the calls the demo makes. Pure: no I/O.
 */
import type { ActorName } from './actors.js'

export type Role = 'seed' | 'gateway' | 'edge' | 'app'

export interface NodePlan {
  name: string
  role: Role
  reachability: 'public' | 'outbound-only'
  actors: ActorName[]
  /** Names of the nodes it joins through. */
  bootstrap: string[]
  /** Names of the only nodes it may connect to (an egress firewall); undefined: any. */
  allow?: string[]
}

export const MIN_NODES = 5
export const MAX_NODES = 16

/**
 * A seed, two gateways, then edges (outbound-only, allowed to connect to the gateways only: a site
 * behind a firewall) and apps (public) in turn, edges first: 6 nodes are seed, gw-a, gw-b,
 * edge-1, edge-2, app.
 */
export function plan (nodes: number): NodePlan[] {
  if (!Number.isInteger(nodes) || nodes < MIN_NODES || nodes > MAX_NODES) throw new RangeError(`nodes must be ${MIN_NODES} to ${MAX_NODES}`)
  const gateways = ['gw-a', 'gw-b']
  const out: NodePlan[] = [
    { name: 'seed', role: 'seed', reachability: 'public', actors: ['hash', 'counter'], bootstrap: [] },
    ...gateways.map(name => ({ name, role: 'gateway' as const, reachability: 'public' as const, actors: [], bootstrap: ['seed'] }))
  ]
  let edges = 0
  let apps = 0
  for (let i = 3; i < nodes; i++) {
    // two edges for each app
    if (i % 3 !== 2) {
      out.push({ name: `edge-${++edges}`, role: 'edge', reachability: 'outbound-only', actors: ['kv', 'counter'], bootstrap: gateways, allow: gateways })
    } else {
      apps++
      out.push({ name: apps === 1 ? 'app' : `app-${apps}`, role: 'app', reachability: 'public', actors: ['hash'], bootstrap: ['seed'] })
    }
  }
  return out
}

/** One call of the demo's script, and what it must return (or the error code it must fail with). */
export interface ScriptedCall {
  from: string
  to: string
  method: string
  args: unknown
  expect: { value: unknown } | { code: string }
}

/**
 * Calls across the cluster that show direct and routed paths and a typed error. `hashOf` computes
 * the expected digest (the caller passes the real function, so this stays pure).
 */
export function script (nodes: NodePlan[], hashOf: (data: Uint8Array, rounds: number) => Uint8Array): ScriptedCall[] {
  const caller = nodes.find(n => n.role === 'app')?.name ?? 'seed'
  const [edge1, edge2] = nodes.filter(n => n.role === 'edge').map(n => n.name)
  const data = new TextEncoder().encode('kadmesh')
  const rounds = 20_000
  const digest = hashOf(data, rounds)
  const greeting = `hello from ${caller}`
  return [
    { from: caller, to: edge1, method: 'kv.put', args: { key: 'greeting', value: greeting }, expect: { value: undefined } },
    { from: edge2, to: edge1, method: 'kv.get', args: { key: 'greeting' }, expect: { value: greeting } },
    { from: 'seed', to: edge2, method: 'counter.add', args: { by: 5 }, expect: { value: 5 } },
    { from: caller, to: edge2, method: 'counter.add', args: { by: 2 }, expect: { value: 7 } },
    { from: 'gw-a', to: edge2, method: 'counter.get', args: undefined, expect: { value: 7 } },
    { from: edge1, to: 'seed', method: 'hash.sha256', args: { data, rounds }, expect: { value: digest } },
    { from: edge2, to: caller, method: 'hash.sha256', args: { data, rounds }, expect: { value: digest } },
    { from: caller, to: 'seed', method: 'kv.get', args: { key: 'greeting' }, expect: { code: 'MESH_ERR_NO_SUCH_METHOD' } }
  ]
}

/** The demo's pub/sub traffic: who publishes where, who subscribes to what, and whom each must hear. */
export interface PubSubScript {
  publishers: Array<{ node: string, topic: string }>
  subscribers: Array<{ node: string, pattern: string, hears: string[] }>
}

/** An edge and the seed publish readings; an app, an edge and a gateway subscribe with patterns. */
export function pubsubScript (nodes: NodePlan[]): PubSubScript {
  const app = nodes.find(n => n.role === 'app')?.name ?? 'seed'
  const [edge1, edge2] = nodes.filter(n => n.role === 'edge').map(n => n.name)
  return {
    publishers: [
      { node: edge1, topic: `sensors/${edge1}/temp` },
      { node: 'seed', topic: 'sensors/seed/temp' }
    ],
    subscribers: [
      { node: app, pattern: 'sensors/**', hears: [edge1, 'seed'] },
      { node: edge2, pattern: 'sensors/*/temp', hears: [edge1, 'seed'] },
      { node: 'gw-a', pattern: 'sensors/seed/*', hears: ['seed'] }
    ]
  }
}
