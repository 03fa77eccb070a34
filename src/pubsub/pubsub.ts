import { randomInt } from 'node:crypto'
import { logger } from '@libp2p/logger'
import type { Context } from '../actors/context.js'
import type { Handlers } from '../actors/actor.js'
import { AbortedError, ClosedError, ErrorCode, type MeshError, OverloadedError, TimeoutError, TooLargeError } from '../errors.js'
import { callTimeout } from '../options.js'
import type { PubsubCounters } from '../stats.js'
import { encodePayload } from '../wire/payload.js'
import { type Batch, BATCH_HEADER, decodeBatch, entrySize, MAX_ENTRY_SUBS, MAX_U48 } from './batch.js'
import {
  checkProxyRequest, checkSubscriptionsAnswer, checkSubscriptionsRequest, checkUpdateRequest, type SubscriptionsAnswer
} from './control.js'
import { Directory, type Routes } from './directory.js'
import { TopicRecords, type TopicRecordsInit } from './discovery.js'
import { type AckCallback, ackError, Outbox } from './outbox.js'
import { ProxyTable } from './proxies.js'
import { type Announcement, Registry } from './registry.js'
import { Inbox, type SubscribeOptions, Subscription, subscriptionSettings } from './subscription.js'
import { checkTopic, compilePattern, KEY_ANY, topicKey } from './topic.js'

const log = logger('kadmesh:pubsub')

/** The system actor's name: `_pubsub.deliver`, `_pubsub.subscriptions`, `_pubsub.update`, `_pubsub.proxy`. */
export const PUBSUB_ACTOR = '_pubsub'

/** Timings and bounds of pub/sub (ms unless said otherwise). docs/pubsub.md explains each. */
export const PUBSUB_LIMITS = {
  /** A DHT provider lookup gives what it found by then. */
  lookupTimeout: 5_000,
  /** A provide is given up after this (kad-dht keeps re-providing on its own). */
  provideTimeout: 10_000,
  /** A control call (subscriptions, update, proxy) to one node. */
  controlTimeout: 5_000,
  /** Publishers look for subscribers, and subscribers for publishers, again this often. */
  refreshInterval: 30_000,
  /** A publishing key unused for this many refresh rounds (5 min) is dropped (its next publish discovers again). */
  keyIdleRounds: 10,
  /** A gap in a sequence is given up on (counted as dropped) after this. */
  reorderWait: 500,
  /** Lease an outbound-only subscriber takes at its gateways (renewed every refresh). */
  proxyTtl: 90_000,
  /** Gateways an outbound-only subscriber registers with. */
  proxyGateways: 2,
  /** A batch is sent as soon as it holds this many bytes. */
  maxBatchBytes: 64 * 1024,
  /**
   * Messages and bytes on their way to one subscriber node (not yet taken by it); more wait. Half
   * the subscriber's reorder window (REORDER_WINDOW, 4,096), so reordering by the stream pool never
   * overflows it; 1 MiB keeps 1 KiB messages flowing at one round trip per MiB.
   */
  maxInflight: { messages: 2048, bytes: 1024 * 1024 },
  /** Bytes of batches to one subscriber node that may wait for those before more are dropped. */
  maxPendingBytes: 8 * 1024 * 1024,
  /** Subscriber nodes a publisher keeps in its directory. */
  maxNodes: 10_000,
  /** Distinct discovery keys a node publishes under at once. */
  maxPublishingKeys: 10_000
} as const

/** Options of {@link Mesh.publish}. */
export interface PublishOptions {
  /**
   * Wait for delivery acknowledgements from the subscriber nodes known at publish time; the result
   * then says who acknowledged. Default false.
   */
  ack?: boolean
  /** ms to wait for the acknowledgements (with `ack`). Default: the mesh's `timeout`. */
  timeout?: number
  /** Aborting it rejects the publish with MESH_ERR_ABORTED (a message already handed on may still arrive). */
  signal?: AbortSignal
}

/** What {@link Mesh.publish} resolves to. */
export interface PublishResult {
  /** The subscriber nodes (this one included) whose subscriptions match the topic, as known at publish time. */
  subscribers: readonly string[]
  /** With `ack`: the subscriber nodes where every matching subscription took the message. */
  acked: readonly string[]
  /** With `ack`: the subscriber nodes that did not take it, and why (see docs/pubsub.md). */
  failed: ReadonlyArray<{ node: string, error: MeshError }>
}

export interface PubSubInit {
  self: string
  /** The node listens nowhere: it registers its subscriptions with gateways instead of the DHT. */
  outboundOnly: boolean
  counters: PubsubCounters
  /** Default ms to wait for acknowledgements. */
  timeout: number
  maxFrameSize: number
  /** The DHT's content routing, where discovery records live. */
  routing: TopicRecordsInit['routing']
  /** Aborted when the mesh stops. */
  shutdown: AbortSignal
  /** Calls a method on another node (`mesh.call`). */
  call: (node: string, method: string, args: unknown, timeout: number) => Promise<unknown>
  /** Nodes this one has a connection to (an outbound-only node's gateways). */
  connected: () => string[]
}

const EMPTY: readonly never[] = Object.freeze([])

/** A discovery key this node publishes under. */
interface PublishingKey {
  /** The first discovery, while it runs. */
  ready: Promise<void> | undefined
  /** The refresh round it was last published under in. */
  round: number
  /** Dropped for idleness: the next publish starts a new discovery. */
  expired: boolean
}
/** Bytes of the frame around a batch's bytes besides the batch: frame header, method, msgpack bin header. */
const FRAME_SLACK = 64

/**
 * Pub/sub for one node: its subscriptions (the registry, fed by DELIVER batches), its view of the
 * subscriptions in the mesh (the directory, filled through the DHT and told of changes directly),
 * per-node batching of what it publishes (the outbox), and the `_pubsub` system actor that ties
 * nodes together. See docs/pubsub.md for the protocol and its guarantees.
 */
export class PubSub {
  readonly #init: PubSubInit
  readonly #records: TopicRecords
  readonly #registry: Registry
  readonly #directory = new Directory()
  readonly #outbox: Outbox
  readonly #proxies = new ProxyTable()
  /** Discovery keys this node publishes under: the first lookup (while running) and the last use. */
  readonly #publishing = new Map<string, PublishingKey>()
  /** The publishing keys of the topic published last (most publishes repeat a topic). */
  #topicKeys: { topic: string, a: PublishingKey, b: PublishingKey } | undefined
  /** Refresh rounds so far (a publishing key remembers the round it was last used in). */
  #round = 0
  /** Per route set, the result shared by the publishes of the current tick. */
  readonly #results = new WeakMap<Routes, { tick: Promise<void>, result: Promise<PublishResult> }>()
  /** Discovery keys this node subscribes under, with the publishers it knows there (told of changes). */
  readonly #subscribed = new Map<string, Set<string>>()
  /** Gateways an outbound-only node registered with, per key. */
  readonly #gateways = new Map<string, Set<string>>()
  /** When each publisher was last told about subscriptions it named but this node does not have. */
  readonly #corrected = new Map<string, number>()
  /** Open subscriptions' inboxes, so stop() can end their consumers' loops. */
  readonly #inboxes = new Set<Inbox>()
  readonly #localEpoch = randomInt(MAX_U48)
  readonly #refresh: NodeJS.Timeout
  #sweep: NodeJS.Timeout | undefined
  #refreshing = false
  #checkedTopic: string | undefined
  #stopped = false

  /** The `_pubsub` system actor's methods. */
  readonly handlers: Handlers

  constructor (init: PubSubInit) {
    this.#init = init
    const counters = init.counters
    this.#records = new TopicRecords({
      routing: init.routing,
      self: init.self,
      counters,
      lookupTimeout: PUBSUB_LIMITS.lookupTimeout,
      provideTimeout: PUBSUB_LIMITS.provideTimeout,
      shutdown: init.shutdown
    })
    this.#registry = new Registry({
      counters,
      now: () => performance.now(),
      onUnknown: (publisher, topic) => { this.#correct(publisher, topic) },
      onPublisher: (publisher, key) => { this.#learnPublisher(publisher, key) }
    })
    this.#outbox = new Outbox({
      epoch: () => randomInt(MAX_U48),
      counters,
      maxBatchBytes: PUBSUB_LIMITS.maxBatchBytes,
      maxInflight: PUBSUB_LIMITS.maxInflight,
      maxPendingBytes: PUBSUB_LIMITS.maxPendingBytes,
      send: async (node, batch) => init.call(node, `${PUBSUB_ACTOR}.deliver`, batch, init.timeout),
      onFailed: (node, err) => { this.#routeFailed(node, err) }
    })
    this.#refresh = setInterval(() => { void this.#refreshAll() }, PUBSUB_LIMITS.refreshInterval).unref()
    this.handlers = {
      deliver: (bytes: unknown, ctx: Context) => this.#onDeliver(bytes, ctx),
      subscriptions: (request: unknown, ctx: Context) => this.#onSubscriptions(request, ctx),
      update: (request: unknown, ctx: Context) => this.#onUpdate(request, ctx),
      proxy: (request: unknown, ctx: Context) => this.#onProxy(request, ctx)
    }
  }

  /** See {@link Mesh.subscribe}. */
  subscribe (pattern: string, options?: SubscribeOptions): Subscription {
    let inbox: Inbox
    try {
      if (this.#stopped) throw new ClosedError()
      const compiled = compilePattern(pattern)
      const settings = subscriptionSettings(options)
      if (options?.signal?.aborted === true) throw new AbortedError('the subscription was aborted before it started')
      inbox = new Inbox(this.#newId(), compiled, settings, (n) => { this.#init.counters.dropped += n })
    } catch (err) {
      if ((err as MeshError).code !== ErrorCode.CLOSED) this.#init.counters.invalid++
      throw err
    }
    const key = inbox.pattern.key
    this.#registry.add(inbox)
    this.#inboxes.add(inbox)
    this.#directory.set(this.#init.self, key, this.#registry.announcement(key))
    if (!this.#subscribed.has(key)) this.#subscribed.set(key, new Set())
    const signal = options?.signal
    const onAbort = (): void => { void sub.close() }
    const sub = new Subscription(inbox, this.#announce(key), async () => {
      signal?.removeEventListener('abort', onAbort)
      await this.#unsubscribe(inbox)
    })
    signal?.addEventListener('abort', onAbort, { once: true })
    return sub
  }

  /** See {@link Mesh.publish}. */
  publish (topic: string, data: unknown, options?: PublishOptions): Promise<PublishResult> {
    let bytes: Uint8Array
    let ack = false
    let timeout = this.#init.timeout
    const signal = options?.signal
    try {
      if (this.#stopped) throw new ClosedError()
      if (topic !== this.#checkedTopic) {
        checkTopic(topic)
        this.#checkedTopic = topic
      }
      if (options !== undefined) {
        ack = options.ack === true
        timeout = callTimeout(options.timeout, timeout)
        if (signal?.aborted === true) throw new AbortedError('the publish was aborted before it started')
      }
      bytes = encodePayload(data)
      const size = BATCH_HEADER + 2 + topic.length * 3 + entrySize(MAX_ENTRY_SUBS, bytes.byteLength) + FRAME_SLACK
      if (size > this.#init.maxFrameSize) throw new TooLargeError(`a message of ${bytes.byteLength} bytes does not fit in a frame of ${this.#init.maxFrameSize} bytes`)
    } catch (err) {
      const code = (err as MeshError).code
      if (code !== ErrorCode.CLOSED && code !== ErrorCode.ABORTED) this.#init.counters.invalid++
      return Promise.reject(err)
    }
    const discovering = this.#discovering(topic)
    if (discovering === undefined) return this.#publish(topic, bytes, ack, timeout, signal)
    const sent = discovering.then(async () => {
      if (this.#stopped) throw new ClosedError()
      if (signal?.aborted === true) throw new AbortedError('the publish was aborted')
      return this.#publish(topic, bytes, ack, timeout, signal)
    })
    return signal === undefined ? sent : raceAbort(sent, signal)
  }

  /** Ends every subscription and stops the timers; later calls fail with MESH_ERR_CLOSED. */
  stop (): void {
    if (this.#stopped) return
    this.#stopped = true
    clearInterval(this.#refresh)
    clearInterval(this.#sweep)
    for (const key of this.#registry.keys()) {
      for (const [id] of this.#registry.entries(key)) this.#registry.remove(id)
    }
    for (const inbox of this.#inboxes) inbox.close()
    this.#inboxes.clear()
  }

  #publish (topic: string, bytes: Uint8Array, ack: boolean, timeout: number, signal: AbortSignal | undefined): Promise<PublishResult> {
    const counters = this.#init.counters
    counters.published++
    const routes = this.#directory.route(topic)
    const targets = routes.targets
    counters.sent += targets.length
    const acks = ack ? new AckCollector(routes.nodes, timeout, signal) : undefined
    for (const target of targets) {
      const subs: number[] = []
      for (const sub of target.subs) subs.push(sub.id, ++sub.seq)
      if (target.node === this.#init.self) this.#deliverLocal(topic, subs, bytes, acks?.callback)
      else this.#outbox.add(target.node, topic, subs, bytes, acks?.callback)
    }
    if (acks !== undefined) return acks.promise
    // one result (frozen) for every publish of this tick to the same routes: no promise per message
    const tick = this.#outbox.flushed()
    let shared = this.#results.get(routes)
    if (shared?.tick !== tick) {
      const result: PublishResult = Object.freeze({ subscribers: routes.nodes, acked: EMPTY, failed: EMPTY })
      shared = { tick, result: tick.then(() => result) }
      this.#results.set(routes, shared)
    }
    return signal === undefined ? shared.result : raceAbort(shared.result, signal)
  }

  /** A message for this node's own subscriptions: no batch, no network. */
  #deliverLocal (topic: string, subs: number[], data: Uint8Array, ack: AckCallback | undefined): void {
    const batch: Batch = { epoch: this.#localEpoch, topics: [topic], entries: [{ topic: 0, ack: ack !== undefined, subs, data }] }
    const failures = this.#registry.deliver(this.#init.self, batch)
    this.#sweepWhileHolding()
    if (ack === undefined || failures === undefined) return
    void failures.then((f) => { ack(this.#init.self, f.length === 0 ? undefined : ackError(f[0][1], this.#init.self)) })
  }

  /**
   * Undefined when this node knows the subscribers under the topic's key and under `*` already; else
   * a promise that resolves once the first discovery of each is done (bounded, see #discover).
   */
  #discovering (topic: string): Promise<void> | undefined {
    let keys = this.#topicKeys
    if (keys?.topic !== topic || keys.a.expired || keys.b.expired) {
      keys = this.#topicKeys = { topic, a: this.#publishingKey(topicKey(topic)), b: this.#publishingKey(KEY_ANY) }
    }
    const { a, b } = keys
    a.round = b.round = this.#round
    if (a.ready === undefined && b.ready === undefined) return undefined
    return Promise.all([a.ready, b.ready]).then(() => {})
  }

  #publishingKey (key: string): PublishingKey {
    const state = this.#publishing.get(key)
    if (state !== undefined) return state
    if (this.#publishing.size >= PUBSUB_LIMITS.maxPublishingKeys) this.#expireKeys(1)
    const created: PublishingKey = { ready: undefined, round: this.#round, expired: false }
    this.#publishing.set(key, created)
    created.ready = this.#discover(key).finally(() => { created.ready = undefined })
    return created
  }

  /**
   * A publisher's first discovery under `key`: announces itself and looks up the subscribers, then
   * looks again once its own record is stored. The second look finds subscriptions announced while
   * the first ran (kad-dht's provide resolves once its ADD_PROVIDER messages are sent, so a record
   * may not be readable yet for a few ms); those that looked for publishers meanwhile found this
   * node's record instead (docs/pubsub.md).
   */
  async #discover (key: string): Promise<void> {
    const announced = this.#records.provide('pub', key)
    await this.#findSubscribers(key)
    await announced
    await this.#findSubscribers(key)
  }

  /** Looks up the nodes with subscriptions under `key` and asks each for them. */
  async #findSubscribers (key: string): Promise<void> {
    const nodes = await this.#records.find('sub', key)
    await Promise.all(nodes.map(async node => this.#askSubscriptions(node, key)))
  }

  async #askSubscriptions (node: string, key: string): Promise<void> {
    let answer: SubscriptionsAnswer
    try {
      const reply = await this.#control(node, 'subscriptions', { key })
      answer = checkSubscriptionsAnswer(reply, key)
    } catch (err) {
      if ((err as MeshError).code === ErrorCode.BAD_REQUEST) this.#init.counters.badInput++
      log('asking %s for subscriptions under %s: %s', node, key, (err as Error).message)
      return
    }
    for (const [subscriber, subs, v] of answer.nodes) {
      if (subscriber === this.#init.self || this.#stopped) continue
      if (!this.#directory.has(subscriber) && this.#directory.size >= PUBSUB_LIMITS.maxNodes) break
      this.#learn(subscriber, key, { subs, v })
    }
  }

  /** Applies another node's announcement; a node left without subscriptions starts a new session next time. */
  #learn (node: string, key: string, announcement: Announcement): void {
    this.#directory.set(node, key, announcement)
    if (!this.#directory.has(node)) this.#outbox.forget(node)
  }

  /** Announces this node's subscriptions under `key`; resolves (never rejects) when done. */
  async #announce (key: string): Promise<void> {
    const stored = this.#init.outboundOnly ? this.#registerWithGateways(key) : this.#records.provide('sub', key)
    await Promise.allSettled([stored, this.#findPublishers(key, true)])
    // A publisher that announced itself while the first lookup ran: found now, or it found us.
    await this.#findPublishers(key, false).catch(() => {})
  }

  /** Looks up the publishers under `key` and tells the new ones (with `all`, every known one) this node's subscriptions there. */
  async #findPublishers (key: string, all: boolean): Promise<void> {
    const found = await this.#records.find('pub', key)
    const known = this.#subscribed.get(key)
    if (known === undefined) return
    const tell = all ? new Set([...known, ...found]) : found.filter(n => !known.has(n))
    for (const node of tell) this.#knowPublisher(known, node)
    await Promise.all([...tell].map(async node => this.#tell(node, key)))
  }

  /** Tells publisher `node` this node's subscriptions under `key`; forgets it if it is not publishing there. */
  async #tell (node: string, key: string): Promise<void> {
    try {
      const publishing = await this.#control(node, 'update', { key, ...this.#registry.announcement(key) })
      if (publishing !== true) this.#subscribed.get(key)?.delete(node)
    } catch (err) {
      log('telling %s about subscriptions under %s: %s', node, key, (err as Error).message)
      this.#subscribed.get(key)?.delete(node)
    }
  }

  /** An outbound-only node: registers its subscriptions under `key` with up to two connected gateways. */
  async #registerWithGateways (key: string): Promise<void> {
    const announcement = this.#registry.announcement(key)
    const previous = this.#gateways.get(key) ?? new Set<string>()
    const connected = this.#init.connected()
    const chosen = [...previous].filter(g => connected.includes(g))
    for (const g of connected) if (chosen.length < PUBSUB_LIMITS.proxyGateways && !chosen.includes(g)) chosen.push(g)
    const request = { key, ...announcement, ttl: PUBSUB_LIMITS.proxyTtl }
    const results = await Promise.allSettled([...new Set([...chosen, ...previous])].map(async gateway =>
      // the gateway answers once its record is stored
      this.#control(gateway, 'proxy', chosen.includes(gateway) ? request : { ...request, subs: [] }, PUBSUB_LIMITS.provideTimeout + PUBSUB_LIMITS.controlTimeout)))
    if (announcement.subs.length === 0) this.#gateways.delete(key)
    else this.#gateways.set(key, new Set(chosen))
    for (const r of results) if (r.status === 'rejected') log('registering subscriptions under %s with a gateway: %s', key, (r.reason as Error).message)
  }

  async #unsubscribe (inbox: Inbox): Promise<void> {
    this.#inboxes.delete(inbox)
    if (this.#stopped || !this.#registry.has(inbox.id)) return
    const key = inbox.pattern.key
    this.#registry.remove(inbox.id)
    const announcement = this.#registry.announcement(key)
    this.#directory.set(this.#init.self, key, announcement)
    const publishers = [...this.#subscribed.get(key) ?? []]
    const none = announcement.subs.length === 0
    if (none) this.#subscribed.delete(key)
    const told: Array<Promise<unknown>> = publishers.map(async node => this.#control(node, 'update', { key, ...announcement }))
    if (this.#init.outboundOnly) told.push(this.#registerWithGateways(key))
    else if (none && !this.#proxies.has(key, performance.now())) told.push(this.#records.withdraw('sub', key))
    await Promise.allSettled(told)
  }

  /**
   * A control call (each is idempotent), sent again up to twice within its timeout when it failed
   * in a way that says another try may work (MESH_ERR_CONNECTION_LOST: connections get trimmed).
   */
  async #control (node: string, method: string, args: unknown, timeout: number = PUBSUB_LIMITS.controlTimeout): Promise<unknown> {
    const deadline = performance.now() + timeout
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#init.call(node, `${PUBSUB_ACTOR}.${method}`, args, Math.max(1, Math.ceil(deadline - performance.now())))
      } catch (err) {
        if (attempt === 3 || (err as MeshError).retryable !== true || deadline - performance.now() < 1 || this.#stopped) throw err
      }
    }
  }

  #newId (): number {
    let id: number
    do id = randomInt(MAX_U48); while (this.#registry.has(id))
    return id
  }

  /** A publisher sent messages to subscriptions this node does not have: tell it (at most once a second) what it has. */
  #correct (publisher: string, topic: string): void {
    const now = performance.now()
    if ((this.#corrected.get(publisher) ?? -Infinity) > now - 1_000) return
    this.#corrected.set(publisher, now)
    if (this.#corrected.size > 10_000) this.#corrected.delete(this.#corrected.keys().next().value as string)
    for (const key of new Set([topicKey(topic), KEY_ANY])) {
      void this.#control(publisher, 'update', { key, ...this.#registry.announcement(key) }).catch(() => {})
    }
  }

  /** Remembers a publisher under a key, up to `maxNodes` of them (beyond, it is not told of changes; its messages to a closed subscription still get it corrected). */
  #knowPublisher (known: Set<string>, node: string): void {
    if (known.size < PUBSUB_LIMITS.maxNodes) known.add(node)
  }

  /** The first message from a publisher to a subscription under `key`: remember it (to tell it of changes) and greet it directly. */
  #learnPublisher (publisher: string, key: string): void {
    const known = this.#subscribed.get(key)
    if (known === undefined || known.has(publisher) || publisher === this.#init.self) return
    this.#knowPublisher(known, publisher)
    // Calling it opens a direct connection where one is possible (an outbound-only subscriber dials
    // out), so its later batches need not travel through gateways.
    void this.#tell(publisher, key)
  }

  /** A batch to `node` failed: forget the node until discovery finds it again. */
  #routeFailed (node: string, err: unknown): void {
    const code = (err as MeshError).code
    if (code !== ErrorCode.UNREACHABLE && code !== ErrorCode.CONNECTION_LOST && code !== ErrorCode.CLOSED && code !== ErrorCode.NO_SUCH_METHOD) return
    this.#outbox.forget(node)
    if (this.#directory.forget(node)) {
      this.#init.counters.forgotten++
      log('forgot subscriber %s: %s', node, (err as Error).message)
    }
  }

  #sweepWhileHolding (): void {
    if (this.#sweep !== undefined || !this.#registry.holding) return
    this.#sweep = setInterval(() => {
      this.#registry.sweep(PUBSUB_LIMITS.reorderWait)
      if (!this.#registry.holding) {
        clearInterval(this.#sweep)
        this.#sweep = undefined
      }
    }, PUBSUB_LIMITS.reorderWait / 4).unref()
  }

  #onDeliver (bytes: unknown, ctx: Context): Promise<Array<[number, string]>> | undefined {
    let batch: Batch
    try {
      batch = decodeBatch(bytes as Uint8Array)
    } catch (err) {
      this.#init.counters.badInput++
      throw err
    }
    const failures = this.#registry.deliver(ctx.caller, batch)
    this.#sweepWhileHolding()
    return failures
  }

  #onSubscriptions (request: unknown, ctx: Context): SubscriptionsAnswer {
    const { key } = this.#checked(checkSubscriptionsRequest, request)
    const nodes: SubscriptionsAnswer['nodes'] = this.#proxies.entries(key, performance.now())
    const own = this.#registry.announcement(key)
    if (own.subs.length > 0) {
      nodes.unshift([this.#init.self, own.subs, own.v])
      // the asker publishes under the key: tell it when these change
      const known = this.#subscribed.get(key)
      if (known !== undefined) this.#knowPublisher(known, ctx.caller)
    }
    return { nodes }
  }

  #onUpdate (request: unknown, ctx: Context): boolean {
    const { key, subs, v } = this.#checked(checkUpdateRequest, request)
    if (!this.#publishing.has(key)) return false
    if (!this.#directory.has(ctx.caller) && this.#directory.size >= PUBSUB_LIMITS.maxNodes) {
      throw new OverloadedError(`${this.#init.self} already knows ${PUBSUB_LIMITS.maxNodes} subscriber nodes`)
    }
    this.#learn(ctx.caller, key, { subs, v })
    return true
  }

  async #onProxy (request: unknown, ctx: Context): Promise<boolean> {
    const { key, subs, v, ttl } = this.#checked(checkProxyRequest, request)
    const now = performance.now()
    this.#proxies.set(ctx.caller, key, { subs, v }, now + ttl, now)
    // answered once the record that leads publishers here is stored
    if (subs.length > 0 && !this.#init.outboundOnly) await this.#records.provide('sub', key)
    return true
  }

  #checked<T> (check: (value: unknown) => T, value: unknown): T {
    try {
      return check(value)
    } catch (err) {
      this.#init.counters.badInput++
      throw err
    }
  }

  async #refreshAll (): Promise<void> {
    if (this.#refreshing || this.#stopped) return
    this.#refreshing = true
    try {
      this.#round++
      this.#expireKeys(PUBSUB_LIMITS.keyIdleRounds)
      const work: Array<Promise<void>> = []
      for (const key of this.#publishing.keys()) work.push(this.#findSubscribers(key))
      for (const key of this.#subscribed.keys()) {
        if (this.#init.outboundOnly) work.push(this.#registerWithGateways(key))
        work.push(this.#findPublishers(key, false))
      }
      await Promise.allSettled(work)
    } finally {
      this.#refreshing = false
    }
  }

  /** Drops publishing keys unused for `idle` refresh rounds (not those still discovering); at the limit, the oldest. */
  #expireKeys (idle: number): void {
    for (const [key, state] of this.#publishing) {
      if (state.ready !== undefined || this.#round - state.round < idle) continue
      state.expired = true
      this.#publishing.delete(key)
    }
    for (const [key, state] of this.#publishing) {
      if (this.#publishing.size < PUBSUB_LIMITS.maxPublishingKeys) break
      state.expired = true
      this.#publishing.delete(key)
    }
  }
}

/**
 * The acknowledgements of one publish: one per subscriber node known at publish time. Resolves
 * when all are in, or at the timeout (the missing ones fail with MESH_ERR_TIMEOUT); rejects when the
 * signal aborts.
 */
class AckCollector {
  readonly promise: Promise<PublishResult>
  readonly #acked: string[] = []
  readonly #failed: Array<{ node: string, error: MeshError }> = []
  readonly #waiting: Set<string>
  #finish!: (result: PublishResult | Error) => void

  constructor (subscribers: readonly string[], timeout: number, signal: AbortSignal | undefined) {
    this.#waiting = new Set(subscribers)
    this.promise = new Promise<PublishResult>((resolve, reject) => {
      const onAbort = (): void => { this.#finish(new AbortedError('the publish was aborted', { cause: signal?.reason })) }
      const timer = setTimeout(() => {
        for (const node of this.#waiting) this.#failed.push({ node, error: new TimeoutError(`no acknowledgement from ${node} within ${timeout} ms`, { node }) })
        this.#finish({ subscribers, acked: this.#acked, failed: this.#failed })
      }, timeout)
      this.#finish = (result) => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.#waiting.clear()
        if (result instanceof Error) reject(result)
        else resolve(result)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      if (this.#waiting.size === 0) this.#finish({ subscribers, acked: this.#acked, failed: this.#failed })
    })
    this.#subscribers = subscribers
  }

  readonly #subscribers: readonly string[]

  readonly callback: AckCallback = (node, error) => {
    if (!this.#waiting.delete(node)) return
    if (error === undefined) this.#acked.push(node)
    else this.#failed.push({ node, error })
    if (this.#waiting.size === 0) this.#finish({ subscribers: this.#subscribers, acked: this.#acked, failed: this.#failed })
  }
}

/** Rejects with MESH_ERR_ABORTED when `signal` aborts first. */
async function raceAbort<T> (promise: Promise<T>, signal: AbortSignal): Promise<T> {
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { reject(new AbortedError('the publish was aborted', { cause: signal.reason })) }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([promise, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort as () => void)
  }
}
