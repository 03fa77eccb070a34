import { OverloadedError } from '../errors.js'
import type { Announcement, SubscriptionEntry } from './registry.js'

/** Most (node, key) leases a gateway holds for outbound-only subscribers. */
export const MAX_PROXIED = 10_000

interface Lease extends Announcement { expires: number }

/**
 * The subscriptions a gateway answers for on behalf of outbound-only nodes (kad-dht ignores provider
 * records without addresses, so such a node cannot be found in the DHT itself). Each is a lease the
 * subscriber renews; an expired one is no longer given out. Pure: the owner keeps the clock.
 */
export class ProxyTable {
  /** key → node → lease */
  readonly #byKey = new Map<string, Map<string, Lease>>()
  #size = 0

  /** Sets (or with no subscriptions, removes) `node`'s lease under `key`, unless a newer announcement holds it. */
  set (node: string, key: string, { subs, v }: Announcement, expires: number, now: number): void {
    let leases = this.#byKey.get(key)
    const held = leases?.get(node)
    if (held !== undefined && v < held.v) return
    const had = held !== undefined
    if (subs.length === 0) {
      if (had) this.#delete(key, node)
      return
    }
    if (!had && this.#size >= MAX_PROXIED) {
      this.#expire(now)
      if (this.#size >= MAX_PROXIED) throw new OverloadedError(`this gateway already answers for ${MAX_PROXIED} outbound-only subscriptions`)
    }
    if (leases === undefined) this.#byKey.set(key, leases = new Map())
    if (!had) this.#size++
    leases.set(node, { subs, v, expires })
  }

  /** The live leases under `key`. */
  entries (key: string, now: number): Array<[string, SubscriptionEntry[], number]> {
    const out: Array<[string, SubscriptionEntry[], number]> = []
    for (const [node, lease] of this.#byKey.get(key) ?? []) {
      if (lease.expires > now) out.push([node, lease.subs, lease.v])
      else this.#delete(key, node)
    }
    return out
  }

  has (key: string, now: number): boolean {
    return this.entries(key, now).length > 0
  }

  #expire (now: number): void {
    for (const key of [...this.#byKey.keys()]) this.entries(key, now)
  }

  #delete (key: string, node: string): void {
    const leases = this.#byKey.get(key)
    if (leases?.delete(node) !== true) return
    this.#size--
    if (leases.size === 0) this.#byKey.delete(key)
  }
}
