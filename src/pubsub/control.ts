/**
 * The control messages of the `_pubsub` system actor (see docs/pubsub.md) and their checks. Every
 * request and reply comes from another node, so each is checked before use; a bad one is a
 * BadRequestError. Pure: no I/O.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { BadRequestError } from '../errors.js'
import { MAX_U48 } from './batch.js'
import type { Announcement, SubscriptionEntry } from './registry.js'
import { compilePattern, KEY_ANY, MAX_TOPIC_BYTES } from './topic.js'

/** Most subscriptions one node may announce under one key. */
export const MAX_ENTRIES = 10_000
/** Most nodes one `subscriptions` answer may name (the node itself and the outbound-only nodes it stands in for). */
export const MAX_NODES_PER_ANSWER = 1_000

/** `_pubsub.subscriptions`: a publisher asks a node for the subscriptions it knows under a key. */
export interface SubscriptionsRequest { key: string }
/** The answer: per node, its announcement under the key. */
export interface SubscriptionsAnswer { nodes: Array<[node: string, subs: SubscriptionEntry[], v: number]> }
/** `_pubsub.update`: a subscriber tells a publisher its subscriptions under a key (all of them; none = unsubscribed). */
export interface UpdateRequest extends Announcement { key: string }
/** `_pubsub.proxy`: an outbound-only subscriber asks a gateway to answer for it (a lease of `ttl` ms). */
export interface ProxyRequest extends Announcement { key: string, ttl: number }

/** Longest proxy lease a gateway grants (ms). */
export const MAX_PROXY_TTL = 10 * 60_000

export function checkSubscriptionsRequest (value: unknown): SubscriptionsRequest {
  const r = record(value, 'subscriptions request')
  return { key: checkKey(r.key) }
}

export function checkUpdateRequest (value: unknown): UpdateRequest {
  const r = record(value, 'update request')
  const key = checkKey(r.key)
  return { key, subs: checkEntries(r.subs, key), v: checkVersion(r.v) }
}

export function checkProxyRequest (value: unknown): ProxyRequest {
  const r = record(value, 'proxy request')
  const key = checkKey(r.key)
  if (!Number.isInteger(r.ttl) || (r.ttl as number) < 1 || (r.ttl as number) > MAX_PROXY_TTL) {
    throw new BadRequestError(`proxy request: ttl must be an integer from 1 to ${MAX_PROXY_TTL} ms`)
  }
  return { key, subs: checkEntries(r.subs, key), v: checkVersion(r.v), ttl: r.ttl as number }
}

export function checkSubscriptionsAnswer (value: unknown, key: string): SubscriptionsAnswer {
  const r = record(value, 'subscriptions answer')
  if (!Array.isArray(r.nodes) || r.nodes.length > MAX_NODES_PER_ANSWER) {
    throw new BadRequestError(`subscriptions answer: nodes must be an array of at most ${MAX_NODES_PER_ANSWER}`)
  }
  const nodes: SubscriptionsAnswer['nodes'] = []
  for (const item of r.nodes as unknown[]) {
    if (!Array.isArray(item) || item.length !== 3) throw new BadRequestError('subscriptions answer: each node must be [node, subscriptions, version]')
    nodes.push([checkNode(item[0]), checkEntries(item[1], key), checkVersion(item[2])])
  }
  return { nodes }
}

/** A discovery key: a topic's first level (no `/`, possibly empty) or `*`. */
export function checkKey (key: unknown): string {
  if (typeof key !== 'string' || key.includes('/') || key === '**' || key.length > MAX_TOPIC_BYTES || !key.isWellFormed()) {
    throw new BadRequestError('key must be a topic level or *')
  }
  return key
}

function checkVersion (v: unknown): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw new BadRequestError('version must be a non-negative integer')
  return v as number
}

function checkNode (node: unknown): string {
  if (typeof node !== 'string' || node.length > 128) throw new BadRequestError('node must be a node id')
  try {
    peerIdFromString(node)
  } catch {
    throw new BadRequestError(`${node} is not a node id`)
  }
  return node
}

function checkEntries (value: unknown, key: string): SubscriptionEntry[] {
  if (!Array.isArray(value) || value.length > MAX_ENTRIES) throw new BadRequestError(`subscriptions must be an array of at most ${MAX_ENTRIES}`)
  const ids = new Set<number>()
  for (const entry of value as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 2) throw new BadRequestError('a subscription must be [id, pattern]')
    const [id, pattern] = entry as [unknown, unknown]
    if (!Number.isInteger(id) || (id as number) < 0 || (id as number) > MAX_U48 || ids.has(id as number)) {
      throw new BadRequestError('a subscription id must be a distinct integer from 0 to 2^48-1')
    }
    ids.add(id as number)
    if (compilePattern(pattern as string).key !== key) throw new BadRequestError(`pattern ${String(pattern)} does not belong under key ${key === KEY_ANY ? '*' : key}`)
  }
  return value as SubscriptionEntry[]
}

function record (value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) throw new BadRequestError(`${what} must be an object`)
  return value as Record<string, unknown>
}
