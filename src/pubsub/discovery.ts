import type { ContentRouting } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { PubsubCounters } from '../stats.js'

const log = logger('kadmesh:pubsub:discovery')
const utf8 = new TextEncoder()

/** Which DHT provider record: nodes with subscriptions under a key, or nodes publishing under it. */
export type RecordKind = 'sub' | 'pub'

export interface TopicRecordsInit {
  routing: Pick<ContentRouting, 'provide' | 'findProviders' | 'cancelReprovide'>
  self: string
  counters: PubsubCounters
  /** Longest a lookup runs (ms); what it found by then is the answer. */
  lookupTimeout: number
  /** Longest a provide runs (ms). */
  provideTimeout: number
  /** Aborted when the mesh stops. */
  shutdown: AbortSignal
}

/** The DHT key of a record: sha256 of `kadmesh/pubsub/1/<kind>/<discovery key>`, as a raw CIDv1. */
export async function recordCid (kind: RecordKind, key: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(utf8.encode(`kadmesh/pubsub/1/${kind}/${key}`)))
}

/**
 * Pub/sub discovery records in the Kademlia DHT: provider records keyed by the hash of a discovery
 * key (see docs/pubsub.md). A provide is done once per record until withdrawn (kad-dht re-provides
 * it); a failed one is forgotten so the next refresh tries again.
 */
export class TopicRecords {
  readonly #init: TopicRecordsInit
  readonly #provided = new Map<string, Promise<void>>()

  constructor (init: TopicRecordsInit) {
    this.#init = init
  }

  /** Stores this node as a provider of the record (once); resolves when stored or given up. */
  async provide (kind: RecordKind, key: string): Promise<void> {
    const name = `${kind}/${key}`
    let providing = this.#provided.get(name)
    if (providing === undefined) {
      providing = this.#provide(kind, key).catch((err: unknown) => {
        log.error('could not provide %s: %s', name, (err as Error).message)
        if (this.#provided.get(name) === providing) this.#provided.delete(name)
      })
      this.#provided.set(name, providing)
    }
    return providing
  }

  /** Stops re-providing the record (records already stored elsewhere expire on their own). */
  async withdraw (kind: RecordKind, key: string): Promise<void> {
    if (!this.#provided.delete(`${kind}/${key}`)) return
    try {
      await this.#init.routing.cancelReprovide(await recordCid(kind, key))
    } catch (err) {
      log('cancelReprovide %s/%s: %s', kind, key, (err as Error).message)
    }
  }

  /** The nodes (other than this one) that provide the record: whatever the lookup found within its timeout. */
  async find (kind: RecordKind, key: string): Promise<string[]> {
    this.#init.counters.lookups++
    const found = new Set<string>()
    const signal = AbortSignal.any([AbortSignal.timeout(this.#init.lookupTimeout), this.#init.shutdown])
    try {
      for await (const provider of this.#init.routing.findProviders(await recordCid(kind, key), { signal })) {
        const id = provider.id.toString()
        if (id !== this.#init.self) found.add(id)
      }
    } catch (err) {
      if (!signal.aborted) log('lookup of %s/%s ended: %s', kind, key, (err as Error).message)
    }
    log('lookup of %s/%s found %d providers', kind, key, found.size)
    return [...found]
  }

  async #provide (kind: RecordKind, key: string): Promise<void> {
    this.#init.counters.provides++
    const signal = AbortSignal.any([AbortSignal.timeout(this.#init.provideTimeout), this.#init.shutdown])
    await this.#init.routing.provide(await recordCid(kind, key), { signal })
  }
}
