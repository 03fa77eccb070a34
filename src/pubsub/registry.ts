import { ErrorCode } from '../errors.js'
import type { PubsubCounters } from '../stats.js'
import { decodePayload } from '../wire/payload.js'
import type { Batch } from './batch.js'
import { Sequencer } from './sequencer.js'
import { type Inbox, Taken } from './subscription.js'

/** Messages one publisher's sequence may hold back while an earlier one is missing. */
export const REORDER_WINDOW = 4096
/** Publisher sequences one subscription remembers (the oldest idle one is forgotten beyond it). */
export const MAX_SEQUENCES = 4096

/** A subscription as the registry lists it for publishers: id and pattern. */
export type SubscriptionEntry = [id: number, pattern: string]

/**
 * A node's subscriptions under one key as it announces them, with a version that grows with every
 * change (a publisher ignores an announcement older than one it applied: updates can overtake each
 * other). Versions start at the node's start time in µs, so a restarted node's are newer.
 */
export interface Announcement { subs: SubscriptionEntry[], v: number }

export interface RegistryInit {
  counters: PubsubCounters
  /** ms, monotonic. */
  now: () => number
  /** A publisher sent a message for a subscription this node does not have (closed, or never existed). */
  onUnknown: (publisher: string, topic: string) => void
  /** The first message from a publisher (epoch) to a subscription under `key`. */
  onPublisher: (publisher: string, key: string) => void
}

/**
 * The acknowledgements a batch asked for: one per (entry, subscription); an entry fails with the
 * first failure among its subscriptions. Resolves once every one is known (held messages are known
 * when their gap fills or is given up on).
 */
class BatchAcks {
  readonly failures: Array<[index: number, code: string]> = []
  #pending = 0
  #sealed = false
  #resolve!: (failures: Array<[number, string]>) => void
  readonly promise = new Promise<Array<[number, string]>>(resolve => { this.#resolve = resolve })

  expect (): void { this.#pending++ }

  settle (index: number, code?: string): void {
    if (code !== undefined && !this.failures.some(f => f[0] === index)) this.failures.push([index, code])
    this.#pending--
    if (this.#sealed && this.#pending === 0) this.#resolve(this.failures)
  }

  seal (): Promise<Array<[number, string]>> {
    this.#sealed = true
    if (this.#pending === 0) this.#resolve(this.failures)
    return this.promise
  }
}

interface Held {
  topic: string
  data: Uint8Array
  acks: BatchAcks | undefined
  index: number
}

/** One publisher epoch's messages to one local subscription. */
interface Stream {
  readonly local: Local
  readonly from: string
  readonly seq: Sequencer<Held>
  readonly release: (held: Held, seq: number) => void
  readonly drop: (n: number) => void
}

interface Local {
  readonly inbox: Inbox
  readonly streams: Map<string, Stream>
}

/**
 * This node's subscriptions: takes DELIVER batches, puts each message through its publisher's
 * sequence (in order, no duplicates, gaps counted) into the subscription's inbox, and collects the
 * acknowledgements publishers asked for. Pure: the owner keeps the clock and calls {@link sweep}.
 */
export class Registry {
  readonly #init: RegistryInit
  readonly #subs = new Map<number, Local>()
  readonly #byKey = new Map<string, Set<Local>>()
  /** Streams holding messages behind a gap. */
  readonly #holding = new Set<Stream>()
  readonly #versions = new Map<string, number>()
  #clock = Date.now() * 1_000

  constructor (init: RegistryInit) {
    this.#init = init
  }

  get size (): number { return this.#subs.size }
  get holding (): boolean { return this.#holding.size > 0 }

  has (id: number): boolean { return this.#subs.has(id) }

  add (inbox: Inbox): void {
    const local: Local = { inbox, streams: new Map() }
    this.#subs.set(inbox.id, local)
    const key = inbox.pattern.key
    let set = this.#byKey.get(key)
    if (set === undefined) this.#byKey.set(key, set = new Set())
    set.add(local)
    this.#versions.set(key, ++this.#clock)
  }

  /** Removes a subscription; acknowledgements it still held are answered MESH_ERR_CLOSED. */
  remove (id: number): void {
    const local = this.#subs.get(id)
    if (local === undefined) return
    this.#subs.delete(id)
    const key = local.inbox.pattern.key
    const set = this.#byKey.get(key)
    set?.delete(local)
    this.#clock++
    if (set?.size === 0) {
      this.#byKey.delete(key)
      // an empty key announces the clock's value, which is no older than this removal
      this.#versions.delete(key)
    } else {
      this.#versions.set(key, this.#clock)
    }
    for (const stream of local.streams.values()) {
      this.#holding.delete(stream)
      for (const held of stream.seq.drain()) held.acks?.settle(held.index, ErrorCode.CLOSED)
    }
  }

  /** The subscriptions under a discovery key, as publishers are told about them. */
  entries (key: string): SubscriptionEntry[] {
    const set = this.#byKey.get(key)
    return set === undefined ? [] : [...set].map(l => [l.inbox.id, l.inbox.pattern.source])
  }

  /** The subscriptions under a key with their version, as this node tells publishers. */
  announcement (key: string): Announcement {
    return { subs: this.entries(key), v: this.#versions.get(key) ?? this.#clock }
  }

  keys (): string[] {
    return [...this.#byKey.keys()]
  }

  /**
   * Takes a batch from publisher `from`. Returns, when any message asked for one, a promise of the
   * acknowledgement failures (entry index, error code); entries not listed were delivered.
   */
  deliver (from: string, batch: Batch): Promise<Array<[number, string]>> | undefined {
    const counters = this.#init.counters
    const now = this.#init.now()
    let acks: BatchAcks | undefined
    // every entry of a batch comes from one publisher epoch: look its stream up once per subscription
    let lastLocal: Local | undefined
    let lastStream: Stream | undefined
    const entries = batch.entries
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]
      const topic = batch.topics[entry.topic]
      if (entry.ack) acks ??= new BatchAcks()
      const entryAcks = entry.ack ? acks : undefined
      const subs = entry.subs
      for (let j = 0; j < subs.length; j += 2) {
        entryAcks?.expect()
        const local = this.#subs.get(subs[j])
        if (local === undefined) {
          counters.unknown++
          this.#init.onUnknown(from, topic)
          entryAcks?.settle(i, ErrorCode.CLOSED)
          continue
        }
        if (!local.inbox.pattern.matches(topic)) {
          counters.badInput++
          entryAcks?.settle(i, ErrorCode.BAD_REQUEST)
          continue
        }
        let stream = lastStream as Stream
        if (local !== lastLocal) {
          lastLocal = local
          lastStream = stream = this.#stream(local, from, batch.epoch)
        }
        const seq = subs[j + 1]
        if (stream.seq.inOrder(seq)) {
          this.#take(stream, topic, entry.data, seq, entryAcks, i)
          continue
        }
        const held: Held = { topic, data: entry.data, acks: entryAcks, index: i }
        if (!stream.seq.push(seq, held, now, stream.release, stream.drop)) {
          counters.duplicates++
          entryAcks?.settle(i)
        } else if (stream.seq.held > 0) {
          this.#holding.add(stream)
        }
      }
    }
    return acks?.seal()
  }

  /** Gives up on gaps older than `wait` ms: counts them dropped and releases what waited behind them. */
  sweep (wait: number): void {
    const now = this.#init.now()
    for (const stream of this.#holding) {
      if (now - stream.seq.since >= wait) stream.seq.skip(now, stream.release, stream.drop)
      if (stream.seq.held === 0) this.#holding.delete(stream)
    }
  }

  #stream (local: Local, from: string, epoch: number): Stream {
    const name = `${from} ${epoch}`
    const known = local.streams.get(name)
    if (known !== undefined) return known
    if (local.streams.size >= MAX_SEQUENCES) {
      for (const [n, s] of local.streams) {
        if (s.seq.held === 0) { local.streams.delete(n); break }
      }
    }
    const inbox = local.inbox
    const stream: Stream = {
      local,
      from,
      seq: new Sequencer<Held>(REORDER_WINDOW),
      release: (held, seq) => { this.#take(stream, held.topic, held.data, seq, held.acks, held.index) },
      drop: (n) => { inbox.lost(n) }
    }
    local.streams.set(name, stream)
    this.#init.onPublisher(from, inbox.pattern.key)
    return stream
  }

  /** Releases message `seq` of a stream into its subscription (decoded here: an undecodable one is a drop). */
  #take (stream: Stream, topic: string, bytes: Uint8Array, seq: number, acks: BatchAcks | undefined, index: number): void {
    const inbox = stream.local.inbox
    let data: unknown
    try {
      data = decodePayload(bytes)
    } catch {
      this.#init.counters.badInput++
      inbox.lost(1)
      acks?.settle(index, ErrorCode.BAD_REQUEST)
      return
    }
    const taken = inbox.offer({ topic, data, from: stream.from, seq })
    if (taken === Taken.ACCEPTED) this.#init.counters.delivered++
    acks?.settle(index, taken === Taken.REFUSED ? ErrorCode.OVERLOADED : undefined)
  }
}
