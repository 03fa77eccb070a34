import type { Announcement } from './registry.js'
import { compilePattern, KEY_ANY, type Pattern, topicKey } from './topic.js'

/** A subscription of another node (or of this one), as a publisher knows it, with its sequence. */
export interface RemoteSub {
  readonly id: number
  readonly pattern: Pattern
  /** The seq of the last message this node sent it (0: none yet). */
  seq: number
}

/** A node with subscriptions matching a topic. */
export interface Target {
  readonly node: string
  readonly subs: readonly RemoteSub[]
}

/** Where a topic's messages go. */
export interface Routes {
  readonly targets: readonly Target[]
  /** The targets' node ids. */
  readonly nodes: readonly string[]
}

/** Distinct topics whose routes are cached (the cache is cleared when full or when the directory changes). */
const MAX_CACHED_TOPICS = 4096
interface NodeEntry {
  /** discovery key → subscriptions */
  readonly keys: Map<string, RemoteSub[]>
  /** discovery key → version of the announcement applied last */
  readonly versions: Map<string, number>
}

/**
 * A publisher's view of the subscriptions in the mesh: for each subscriber node and discovery key,
 * its subscriptions with the sequence numbers sent to each. A topic's routes (the nodes and
 * subscriptions it matches) are computed once and cached until the directory changes. Pure: the
 * discovery that fills it lives in the PubSub part.
 */
export class Directory {
  readonly #nodes = new Map<string, NodeEntry>()
  /** discovery key → nodes with subscriptions under it */
  readonly #byKey = new Map<string, Set<string>>()
  readonly #routes = new Map<string, Routes>()

  /** Nodes with subscriptions. */
  get size (): number { return this.#nodes.size }

  has (node: string): boolean { return this.#nodes.has(node) }

  /**
   * Applies `node`'s announcement under `key` (already checked) unless a newer one was applied. A
   * subscription it already had keeps its sequence; an empty list removes the node from the key, and
   * a node left without subscriptions is forgotten (a subscription is never announced again once
   * closed: subscribe picks a new id). False when the announcement was older than the one applied.
   */
  set (node: string, key: string, { subs: entries, v }: Announcement): boolean {
    let entry = this.#nodes.get(node)
    if (v < (entry?.versions.get(key) ?? -1)) return false
    const before = entry?.keys.get(key) ?? []
    if (entries.length === 0 && before.length === 0) return true
    if (entry === undefined) this.#nodes.set(node, entry = { keys: new Map(), versions: new Map() })
    entry.versions.set(key, v)
    const subs = entries.map(([id, source]) => before.find(s => s.id === id && s.pattern.source === source) ?? { id, pattern: compilePattern(source), seq: 0 })
    this.#routes.clear()
    if (subs.length === 0) {
      entry.keys.delete(key)
      this.#unindex(key, node)
      if (entry.keys.size === 0) this.#nodes.delete(node)
      return true
    }
    entry.keys.set(key, subs)
    let set = this.#byKey.get(key)
    if (set === undefined) this.#byKey.set(key, set = new Set())
    set.add(node)
    return true
  }

  /** Forgets `node` with its sequences (the publisher starts a new session with it); false when unknown. */
  forget (node: string): boolean {
    const entry = this.#nodes.get(node)
    if (entry === undefined) return false
    this.#nodes.delete(node)
    for (const key of entry.keys.keys()) this.#unindex(key, node)
    this.#routes.clear()
    return true
  }

  /** The nodes and subscriptions a (valid) topic's messages go to. */
  route (topic: string): Routes {
    const cached = this.#routes.get(topic)
    if (cached !== undefined) return cached
    const targets: Target[] = []
    const key = topicKey(topic)
    const candidates = new Set([...this.#byKey.get(key) ?? [], ...this.#byKey.get(KEY_ANY) ?? []])
    for (const node of candidates) {
      const keys = (this.#nodes.get(node) as NodeEntry).keys
      const subs = [...keys.get(key) ?? [], ...keys.get(KEY_ANY) ?? []].filter(s => s.pattern.matches(topic))
      if (subs.length > 0) targets.push({ node, subs })
    }
    const routes: Routes = { targets, nodes: Object.freeze(targets.map(t => t.node)) }
    if (this.#routes.size >= MAX_CACHED_TOPICS) this.#routes.clear()
    this.#routes.set(topic, routes)
    return routes
  }

  #unindex (key: string, node: string): void {
    const set = this.#byKey.get(key)
    set?.delete(node)
    if (set?.size === 0) this.#byKey.delete(key)
  }
}
