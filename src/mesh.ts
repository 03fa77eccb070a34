import type { PeerId, Stream } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { ActorOptions, Handlers } from './actors/actor.js'
import type { Context } from './actors/context.js'
import { type ActorStats, Gateway } from './actors/gateway.js'
import { PendingCall } from './actors/pending-call.js'
import { AbortedError, BadRequestError, ClosedError, ConnectionLostError, ErrorCode, InvalidOptionsError, type MeshError, TooLargeError, UnreachableError } from './errors.js'
import { loadPrivateKey } from './identity.js'
import { FIND_ROUTE_METHOD, type FindRouteRequest, type FindRouteResult, RouteDiscovery } from './routing/discovery.js'
import { decodeGatewayRecord, encodeGatewayRecord, GatewayAdvertiser, gatewayRecordDht, gatewayRecordKey } from './routing/gateway-record.js'
import { OriginAuth, type OriginProof } from './routing/origin-auth.js'
import { DEFAULT_HOP_BUDGET, encodeRouteHeader, MAX_HOP_BUDGET } from './routing/route-header.js'
import { RouteTable } from './routing/route-table.js'
import { Resolver } from './routing/resolver.js'
import { Router } from './routing/router.js'
import { KEEP_METHOD, NeighbourManager } from './routing/neighbours.js'
import { PubSub, PUBSUB_ACTOR, type PublishOptions, type PublishResult } from './pubsub/pubsub.js'
import type { SubscribeOptions, Subscription } from './pubsub/subscription.js'
import type { PeerLink, TransportName } from './transport/interfaces.js'
import { ErrorBody, errorFromBody, parseRoutedReply } from './wire/answers.js'
import { callTimeout, integer, type MeshConfig, type MeshInit, meshConfig, RPC_PROTOCOL } from './options.js'
import { type Counters, countCode, createCounters } from './stats.js'
import { createQuicNode, type MeshLibp2p } from './transport/quic/node.js'
import { StreamPool, type StreamPoolStats } from './transport/quic/stream-pool.js'
import { FastPaths, type FastPathStats, remoteIp } from './transport/fastpath/fast-paths.js'
import { FASTPATH_ACTOR } from './transport/fastpath/hello.js'
import { Deadlines } from './util/deadlines.js'
import { within } from './util/within.js'
import { HEADER_SIZE } from './wire/frame.js'
import { methodBytes } from './wire/frame-writer.js'
import { encodePayload } from './wire/payload.js'

const log = logger('kadmesh:mesh')
const EMPTY = new Uint8Array(0)
/** Bytes of a CALL frame besides method and payload: length prefix, header, timeout, method length. */
const CALL_OVERHEAD = 4 + HEADER_SIZE + 4 + 1
/** RPC streams a peer may open to us, and we to it, on one connection (pools hold at most 16). */
const MAX_RPC_STREAMS = 32

/** Per-call options. */
export interface CallOptions {
  /** Milliseconds to wait for the result; default: the mesh's `timeout`. The deadline travels with the call. */
  timeout?: number
  /** Aborting it rejects the call with MESH_ERR_ABORTED and aborts the remote handler's `ctx.signal`. */
  signal?: AbortSignal
  /** Most hops the call may take through gateways. Default 8; 1 to 32. */
  hops?: number
}

/** What {@link Mesh.traceCall} reports: the result and the route the call took. */
export interface CallTrace {
  value: unknown
  /** Node ids from the caller to the destination, forwarders between. */
  path: string[]
  /** How each hop travelled (one entry per hop: `path.length - 1` of them). */
  transports: TransportName[]
}

/** A learned route, as {@link Mesh.routes} lists it. */
export interface RouteEntry {
  destination: string
  path: string[]
  /** `direct`: an open stream pool; `routed`: through the gateways on `path`. */
  kind: 'direct' | 'routed'
}

/** A snapshot of a node's state and counters. */
export interface MeshStats {
  nodeId: string
  addresses: string[]
  connections: number
  counters: Counters
  pools: StreamPoolStats[]
  /** The native fast paths: UDP socket, links per peer (shm/udp), or why there are none. */
  fastPath: FastPathStats
  actors: ActorStats[]
  routes: RouteEntry[]
}

/** How long a routed destination's route is kept before it is looked for again (ms). */
const ROUTE_TTL = 5 * 60_000
/** How long a destination nobody could find is answered at once with UNREACHABLE (ms). */
const NEGATIVE_TTL = 2_000
/** Longest wait (ms) for an RPC stream on an open connection (to offer or ask it in discovery, or to drain it). */
const LINK_WAIT = 1_000
/** How many routes a call that could not be delivered tries, within its deadline. */
const ROUTED_ATTEMPTS = 4
/** After a routed call, how long to wait before trying a direct connection to that node again (ms). */
const DIRECT_RETRY = 30_000
/** ms between rounds of the neighbour manager (connections following the k-buckets). */
const NEIGHBOUR_INTERVAL = 1_000
/** Longest wait for the calls in flight on a connection being closed gracefully (ms). */
const DRAIN_TIMEOUT = 30_000
/** A connection younger than this (ms) is not trimmed: its peer may not have found others yet. */
const YOUNG_CONNECTION = 10_000
/** An outbound-only node publishes a changed gateway record at most this often (ms)… */
const ADVERTISE_MIN_INTERVAL = 2_000
/** …and republishes it this often regardless (ms); records expire after GATEWAY_RECORD_MAX_AGE. */
const ADVERTISE_REFRESH = 10 * 60_000
/** Longest wait for a destination's gateway record (ms). */
const GATEWAY_LOOKUP_TIMEOUT = 2_000
/** Longest wait for the routing table when joining (ms). */
const JOIN_WAIT = 3_000

/**
 * A kadmesh node. Create it with {@link createMesh}; stop it with `stop()` or `await using`.
 */
export class Mesh {
  /** This node's id: its libp2p peer id (`12D3KooW…`). */
  readonly nodeId: string
  readonly #libp2p: MeshLibp2p
  readonly #config: MeshConfig
  readonly #counters = createCounters()
  readonly #gateway: Gateway
  readonly #deadlines = new Deadlines<PendingCall>()
  readonly #pools = new Map<string, StreamPool>()
  readonly #shutdown = new AbortController()
  readonly #routes = new RouteTable(10_000, ROUTE_TTL)
  readonly #auth: OriginAuth
  readonly #discovery: RouteDiscovery
  readonly #resolver: Resolver
  readonly #directTried = new Map<string, number>()
  readonly #neighbours: NeighbourManager
  /** Peers that keep their connection to this node as a neighbour (they called KEEP_METHOD). */
  readonly #keptBy = new Set<string>()
  readonly #advertiser = new GatewayAdvertiser(ADVERTISE_MIN_INTERVAL, ADVERTISE_REFRESH)
  #advertising = false
  readonly #pubsub: PubSub
  readonly #fastPaths: FastPaths
  #stopping: Promise<void> | undefined

  /** Use {@link createMesh}. */
  private constructor (libp2p: MeshLibp2p, config: MeshConfig, auth: OriginAuth) {
    this.#libp2p = libp2p
    this.#config = config
    this.nodeId = libp2p.peerId.toString()
    this.#auth = auth
    const router = new Router({
      self: this.nodeId,
      auth: this.#auth,
      counters: this.#counters,
      deadlines: this.#deadlines,
      onSettle: this.#onSettle,
      directLink: async (nodeId) => this.#select(await this.#directLink(nodeId)),
      forget: (destination) => { this.#routes.delete(destination) }
    })
    this.#gateway = new Gateway({
      nodeId: this.nodeId,
      counters: this.#counters,
      onCastError: (method, err) => { log.error('cast handler %s failed: %s', method, (err as Error)?.message ?? err) },
      route: (req, deliver) => { router.route(req, deliver) }
    })
    this.#discovery = new RouteDiscovery({
      self: this.nodeId,
      table: this.#routes,
      neighbours: () => this.#libp2p.getPeers().map(p => p.toString()).filter(id => this.#pools.get(id)?.draining !== true),
      // a stream on an open connection takes milliseconds; one that does not come soon is no link
      link: async (nodeId) => this.#isConnected(nodeId) && await this.#streamSoon(nodeId).then(() => true, () => false),
      ask: async (neighbour, request, timeout) => this.#callNeighbour(neighbour, FIND_ROUTE_METHOD, request, timeout) as Promise<FindRouteResult>
    })
    this.#resolver = new Resolver({
      self: this.nodeId,
      table: this.#routes,
      discovery: this.#discovery,
      counters: this.#counters,
      connectDirect: async (nodeId) => { await this.#directLink(nodeId) },
      gateways: async (nodeId, deadline) => this.#lookupGateways(nodeId, deadline),
      hasRoom: () => this.#hasRoom(),
      negativeTtl: NEGATIVE_TTL
    })
    this.#neighbours = new NeighbourManager({
      self: this.nodeId,
      target: this.#ownConnections,
      ceiling: this.#config.maxConnections - 1,
      interval: NEIGHBOUR_INTERVAL,
      connected: () => this.#libp2p.getPeers().map(p => p.toString()),
      young: () => {
        const since = Date.now() - YOUNG_CONNECTION
        return new Set(this.#libp2p.getConnections().filter(c => c.timeline.open > since).map(c => c.remotePeer.toString()))
      },
      keptBy: () => {
        for (const id of this.#keptBy) if (!this.#isConnected(id)) this.#keptBy.delete(id)
        return this.#keptBy
      },
      known: async () => (await this.#libp2p.peerStore.all()).filter(p => p.addresses.length > 0).map(p => p.id.toString()),
      dial: async (nodeId) => { await this.#libp2p.dial(peerIdFromString(nodeId), { signal: this.#dialSignal() }) },
      close: (nodeId) => { this.#trim(nodeId) },
      keep: async (nodeId) => {
        // An RPC stream pins the connection: libp2p's pruner (ours or the peer's) only closes
        // connections without one, and a node whose kept connections were pruned is cut off. The
        // peer learns that we keep it and trims it last (see `keptBy`).
        await Promise.all([
          this.#libp2p.peerStore.merge(peerIdFromString(nodeId), { tags: { 'kadmesh-neighbour': { value: 100 } } }),
          this.#callNeighbour(nodeId, KEEP_METHOD, null, config.timeout)
        ])
      },
      rejoin: async () => {
        // the bootstrap nodes may be full: try a few other peers this node has heard of as well
        const known = (await this.#libp2p.peerStore.all()).filter(p => p.addresses.length > 0).slice(0, 4)
        await Promise.allSettled([this.#join(), ...known.map(async p => this.#libp2p.dial(p.id, { signal: this.#dialSignal() }))])
      }
    })
    this.#fastPaths = new FastPaths({
      nodeId: this.nodeId,
      udp: config.udp,
      shm: config.shm,
      listen: config.listen,
      deadAfter: config.quic.maxIdleTimeout,
      keepAlive: config.quic.keepAliveInterval,
      maxFrameSize: config.maxFrameSize,
      maxQueued: config.maxQueuedPerPeer,
      counters: this.#counters,
      handler: this.#gateway,
      remoteAddress: (nodeId) => remoteIp(this.#libp2p, nodeId),
      quicLink: (nodeId) => this.#link(nodeId),
      peerExited: (nodeId) => { this.#onPeerExited(nodeId) }
    })
    this.#gateway.register(FASTPATH_ACTOR, this.#fastPaths.handlers, { concurrency: 16, mailbox: 256 }, true)
    this.#gateway.register('_mesh', {
      findRoute: async (request: FindRouteRequest, ctx: Context) => this.#discovery.find(checkFindRoute(request), performance.now() + (ctx.deadline - Date.now())),
      keep: (_: unknown, ctx: Context) => { if (this.#keptBy.size < 4 * this.#config.maxConnections) this.#keptBy.add(ctx.caller) }
    }, { concurrency: 64, mailbox: 1024 }, true)
    this.#pubsub = new PubSub({
      self: this.nodeId,
      outboundOnly: config.reachability === 'outbound-only',
      counters: this.#counters.pubsub,
      timeout: config.timeout,
      maxFrameSize: config.maxFrameSize,
      routing: libp2p.contentRouting,
      shutdown: this.#shutdown.signal,
      call: async (nodeId, method, args, timeout) => this.call(nodeId, method, args, { timeout }),
      connected: () => this.#libp2p.getPeers().map(p => p.toString())
    })
    this.#gateway.register(PUBSUB_ACTOR, this.#pubsub.handlers, { concurrency: 4096, mailbox: 65_536 }, true)
  }

  /** @internal */
  static async create (init: MeshInit = {}): Promise<Mesh> {
    const config = meshConfig(init)
    const privateKey = await loadPrivateKey(config.privateKey)
    const auth = new OriginAuth(peerIdFromPrivateKey(privateKey).toString(), privateKey)
    const libp2p = await createQuicNode(config, privateKey, gatewayRecordDht(auth))
    const mesh = new Mesh(libp2p, config, auth)
    try {
      await mesh.#start()
    } catch (err) {
      await libp2p.stop()
      throw err
    }
    return mesh
  }

  /** Multiaddrs other nodes can dial this one on, each ending in `/p2p/<nodeId>`. */
  get addresses (): string[] {
    return this.#libp2p.getMultiaddrs().map(ma => ma.toString())
  }

  /**
   * Registers an actor: each handler becomes the method `<name>.<key>`. A handler gets the call's
   * arguments and a {@link Context} and returns (or resolves to) the result; what it throws reaches
   * the caller as a RemoteError. At most `concurrency` handlers of the actor run at once (default 1,
   * in arrival order); `mailbox` more may wait (default 1024); beyond that calls are refused at
   * once with MESH_ERR_OVERLOADED.
   *
   * @example
   * ```ts
   * mesh.actor('kv', {
   *   get: ({ key }, ctx) => store.get(key),
   *   put: ({ key, value }) => { store.set(key, value) }
   * }, { concurrency: 1, mailbox: 1024 })
   * ```
   */
  actor (name: string, handlers: Handlers, options?: ActorOptions): void {
    this.#gateway.register(name, handlers, options)
  }

  /**
   * Calls `method` on node `nodeId` and resolves to its result. Rejects with a {@link MeshError}:
   * MESH_ERR_TIMEOUT, MESH_ERR_ABORTED, MESH_ERR_NO_SUCH_METHOD, MESH_ERR_OVERLOADED,
   * MESH_ERR_UNREACHABLE, MESH_ERR_CONNECTION_LOST (retryable), MESH_ERR_CLOSED, or a RemoteError
   * carrying what the handler threw. It never hangs past its deadline.
   *
   * @example
   * ```ts
   * const value = await mesh.call(nodeId, 'kv.get', { key: 'a' }, { timeout: 5_000 })
   * ```
   */
  call (nodeId: string, method: string, args?: unknown, options?: CallOptions): Promise<unknown> {
    try {
      return this.#dispatch(nodeId, method, args, options, false).promise
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /**
   * Like {@link call}, and also reports the route: `path` (caller, forwarders, destination) and the
   * transport of each hop.
   *
   * @example
   * ```ts
   * const { value, path, transports } = await mesh.traceCall(nodeId, 'kv.get', { key: 'a' })
   * ```
   */
  async traceCall (nodeId: string, method: string, args?: unknown, options?: CallOptions): Promise<CallTrace> {
    const trace: CallTrace = { value: undefined, path: [], transports: [] }
    const call = this.#dispatch(nodeId, method, args, options, false, trace)
    trace.value = await call.promise
    // a direct call: the link that wrote it knows how it went (a fast path, or QUIC behind one)
    if (trace.path.length === 2 && call.transport !== undefined) trace.transports = [call.transport]
    return trace
  }

  /**
   * Sends `method` to node `nodeId` without waiting for a result. Bad arguments throw at once;
   * a cast that cannot be delivered (unreachable node, unknown method, full mailbox) is counted in
   * `stats().counters.castsDropped`, since nobody waits for it.
   */
  cast (nodeId: string, method: string, args?: unknown, options?: CallOptions): void {
    const call = this.#dispatch(nodeId, method, args, options, true)
    call.promise.catch(() => { this.#counters.castsDropped++ })
  }

  /**
   * Subscribes to a topic or pattern (`sensors/temp`, `sensors/*` one level, `sensors/**` any
   * depth) across the mesh: an async iterable of `{ topic, data, from, seq }`, in publish order per
   * publisher. Breaking out of the loop, `close()` or `await using` unsubscribes. A full buffer
   * applies the `overflow` policy; every drop is counted in `sub.dropped` and leaves a `seq` gap.
   * An invalid pattern throws MESH_ERR_BAD_REQUEST, a bad option MESH_ERR_INVALID_OPTIONS.
   * See docs/pubsub.md.
   *
   * @example
   * ```ts
   * await using sub = mesh.subscribe('sensors/*', { buffer: 1024, overflow: 'drop-oldest' })
   * for await (const { topic, data, from, seq } of sub) console.log(topic, data, from, seq)
   * ```
   */
  subscribe<T = unknown> (pattern: string, options?: SubscribeOptions): Subscription<T> {
    return this.#pubsub.subscribe(pattern, options) as Subscription<T>
  }

  /**
   * Publishes `data` to `topic`: resolves once the message has been handed to the route of every
   * subscriber node known now (the first publish under a topic's first level waits for discovery).
   * With `{ ack: true }` it waits for those subscribers' acknowledgements and reports who
   * acknowledged. See docs/pubsub.md.
   *
   * @example
   * ```ts
   * await mesh.publish('sensors/kitchen', { c: 21.5 })
   * const { acked, failed } = await mesh.publish('orders/new', order, { ack: true, timeout: 2_000 })
   * ```
   */
  publish (topic: string, data?: unknown, options?: PublishOptions): Promise<PublishResult> {
    return this.#pubsub.publish(topic, data, options)
  }

  /** A snapshot of this node's counters, pools and actors. */
  stats (): MeshStats {
    return {
      nodeId: this.nodeId,
      addresses: this.addresses,
      connections: this.#libp2p.getConnections().length,
      counters: structuredClone(this.#counters),
      pools: [...this.#pools.values()].map(pool => pool.stats()),
      fastPath: this.#fastPaths.stats(),
      actors: this.#gateway.stats(),
      routes: this.routes()
    }
  }

  /** The routes this node knows: open stream pools (direct) and paths through gateways. */
  routes (): RouteEntry[] {
    const direct = [...this.#pools.values()].filter(p => p.streams > 0)
      .map(p => ({ destination: p.remote, path: [this.nodeId, p.remote], kind: 'direct' as const }))
    const routed = this.#routes.entries().map(e => ({ destination: e.destination, path: e.path, kind: 'routed' as const }))
    return [...direct, ...routed]
  }

  /**
   * Stops the node: calls in flight (both ways) end with MESH_ERR_CLOSED, streams and connections
   * close. Idempotent; resolves when libp2p has stopped.
   */
  async stop (): Promise<void> {
    this.#stopping ??= this.#stop()
    return this.#stopping
  }

  async [Symbol.asyncDispose] (): Promise<void> {
    await this.stop()
  }

  /** The libp2p node underneath, for diagnostics and tests. */
  get libp2p (): MeshLibp2p {
    return this.#libp2p
  }

  async #start (): Promise<void> {
    await this.#libp2p.handle(RPC_PROTOCOL, (stream, connection) => {
      this.#onInboundStream(stream, connection.remotePeer)
    }, { maxInboundStreams: MAX_RPC_STREAMS, maxOutboundStreams: MAX_RPC_STREAMS })
    await this.#join()
    this.#neighbours.start()
    this.#fastPaths.start()
    if (this.#config.reachability === 'outbound-only') {
      const timer = setInterval(() => { void this.#advertise() }, ADVERTISE_MIN_INTERVAL)
      timer.unref()
      this.#shutdown.signal.addEventListener('abort', () => { clearInterval(timer) })
      await this.#advertise()
    }
  }

  /**
   * An outbound-only node names its gateways in the DHT (gateway-record.ts): its oldest open
   * connections, since those are the steadiest. Callers that cannot dial it send through them.
   */
  async #advertise (): Promise<void> {
    if (this.#advertising) return
    const gateways = this.#libp2p.getConnections()
      .filter(c => c.status === 'open' && this.#isConnected(c.remotePeer.toString()))
      .sort((a, b) => a.timeline.open - b.timeline.open)
      .map(c => c.remotePeer.toString())
    const due = this.#advertiser.due([...new Set(gateways)], Date.now())
    if (due === undefined) return
    this.#advertising = true
    try {
      const value = await encodeGatewayRecord({ nodeId: this.nodeId, gateways: due, at: Date.now() }, this.#auth)
      await this.#libp2p.contentRouting.put(gatewayRecordKey(this.nodeId), value, { signal: AbortSignal.any([AbortSignal.timeout(10_000), this.#shutdown.signal]) })
      this.#counters.gatewayRecordsPublished++
    } catch (err) {
      this.#advertiser.failed()
      log('publishing the gateway record failed: %s', (err as Error).message)
    } finally {
      this.#advertising = false
    }
  }

  /** The gateways `nodeId` advertises (rejects when it has no valid record). */
  async #lookupGateways (nodeId: string, deadline: number): Promise<string[]> {
    this.#counters.dhtLookups++
    const key = gatewayRecordKey(nodeId)
    const timeout = Math.max(1, Math.min(GATEWAY_LOOKUP_TIMEOUT, deadline - performance.now()))
    const value = await this.#libp2p.contentRouting.get(key, { signal: AbortSignal.any([AbortSignal.timeout(timeout), this.#shutdown.signal]) })
    return (await decodeGatewayRecord(key, value, this.#auth)).gateways
  }

  /** Dials the bootstrap nodes and waits (bounded) until the DHT routing table holds one. */
  async #join (): Promise<void> {
    const peers = this.#config.bootstrap.map(address => this.#bootstrapPeer(address))
    await Promise.all(peers.map(async ({ peer, ma }) => {
      // Known addresses let a call dial it on demand; the keep-alive tag makes libp2p redial it.
      await this.#libp2p.peerStore.merge(peer, { multiaddrs: [ma], tags: { 'keep-alive-kadmesh': { value: 50 } } })
    }))
    const signal = this.#dialSignal()
    const joined = await Promise.all(peers.map(async ({ ma }) => {
      try {
        await this.#libp2p.dial(ma, { signal })
        return true
      } catch (err) {
        log.error('bootstrap dial to %s failed: %s', ma.toString(), (err as Error).message)
        return false
      }
    }))
    // A lookup made before identify has put a bootstrap node in the routing table finds nothing.
    // A bootstrap node at its connection limit accepts and then closes (notes P6): do not wait long.
    if (joined.includes(true)) await routingTableReady(this.#libp2p, AbortSignal.any([signal, AbortSignal.timeout(JOIN_WAIT)]))
  }

  #bootstrapPeer (address: string): { peer: PeerId, ma: Multiaddr } {
    let ma: Multiaddr
    let id: string | undefined
    try {
      ma = multiaddr(address)
      id = ma.getComponents().findLast(c => c.name === 'p2p')?.value
    } catch (err) {
      throw new InvalidOptionsError(`options.bootstrap: ${address} is not a multiaddr: ${(err as Error).message}`)
    }
    if (id === undefined) throw new InvalidOptionsError(`options.bootstrap: ${address} does not end in /p2p/<nodeId>`)
    return { peer: peerIdFromString(id), ma }
  }

  #dispatch (nodeId: string, method: string, args: unknown, options: CallOptions | undefined, oneWay: boolean, trace?: CallTrace): PendingCall {
    if (this.#stopping !== undefined) throw new ClosedError()
    if (typeof nodeId !== 'string') throw new BadRequestError('nodeId must be a string')
    if (typeof method !== 'string') throw new BadRequestError('method must be a string')
    const timeout = callTimeout(options?.timeout, this.#config.timeout)
    const signal = options?.signal
    if (signal?.aborted === true) throw new AbortedError()
    const local = nodeId === this.nodeId
    const payload = local ? EMPTY : encodePayload(args)
    const size = CALL_OVERHEAD + methodBytes(method).byteLength + payload.byteLength
    if (size - 4 > this.#config.maxFrameSize) {
      throw new TooLargeError(`call of ${size} bytes exceeds the maximum frame size of ${this.#config.maxFrameSize} bytes`)
    }
    const pool = local ? undefined : this.#pools.get(nodeId)
    // a destination with a route was checked when the route was learned
    if (!local && pool === undefined && this.#resolver.known(nodeId, MAX_HOP_BUDGET) === undefined) checkNodeId(nodeId)
    const call = new PendingCall(nodeId, method, payload, performance.now() + timeout, oneWay, this.#onSettle)
    call.frameSize = size
    call.hops = integer(options?.hops, 'options.hops', DEFAULT_HOP_BUDGET, 1, MAX_HOP_BUDGET)
    this.#deadlines.add(call)
    if (signal !== undefined) {
      const onAbort = (): void => { call.abandon(new AbortedError(`call to ${method} on ${nodeId} was aborted`, { cause: signal.reason })) }
      signal.addEventListener('abort', onAbort, { once: true })
      call.detach = () => { signal.removeEventListener('abort', onAbort) }
    }
    if (oneWay) this.#counters.castsSent++
    else this.#counters.callsSent++
    if (local) {
      traced(trace, [nodeId, nodeId], ['local'])
      this.#gateway.callLocal(call, args)
      return call
    }
    if (pool !== undefined && pool.streams > 0) {
      traced(trace, [this.nodeId, nodeId], [pool.transport])
      this.#select(pool).submit(call)
    } else {
      void this.#resolveAndSend(call, trace)
    }
    return call
  }

  /** Sends a call to a node without a warm direct route: resolve, then direct or through gateways. */
  async #resolveAndSend (call: PendingCall, trace: CallTrace | undefined): Promise<void> {
    const avoid: string[] = []
    for (let attempt = 1; ; attempt++) {
      let path = attempt === 1 ? this.#resolver.known(call.node, call.hops) : undefined
      try {
        path ??= await this.#resolver.resolve(call.node, call.hops, call.deadline, avoid)
      } catch (err) {
        call.reject(err)
        return
      }
      if (call.settled) return
      if (path.length === 2) {
        const pool = this.#link(call.node)
        traced(trace, path, [pool.transport])
        this.#select(pool).submit(call)
        return
      }
      const undelivered = await this.#sendRouted(call, path, trace)
      if (undelivered === undefined || call.settled) return
      if (attempt === ROUTED_ATTEMPTS) {
        call.reject(undelivered)
        return
      }
      // the next route keeps clear of the hop that failed (or of our first hop, if that failed)
      avoid.push(undelivered.node === this.nodeId || undelivered.node === undefined ? path[1] : undelivered.node)
    }
  }

  /**
   * Sends a call through the gateways on `path`, sealed as from this node, and settles it; except
   * when the call certainly did not reach its destination: then it resolves to that error, and the
   * call may be sent again on a new route.
   */
  async #sendRouted (call: PendingCall, path: string[], trace: CallTrace | undefined): Promise<MeshError | undefined> {
    let proof: OriginProof
    try {
      proof = this.#auth.seal(call.node, call.method, call.payload)
    } catch (err) {
      call.reject(err)
      return
    }
    const route = encodeRouteHeader({ hop: 1, budget: call.hops, path, ...proof })
    const inner = new PendingCall(path[1], call.method, call.payload, call.deadline, false)
    inner.route = route
    inner.raw = true
    inner.frameSize = call.frameSize + 2 + route.byteLength
    call.target = { cancel: (_call, reason) => { inner.abandon(reason) } }
    this.#counters.routedSent++
    this.#select(this.#link(path[1])).submit(inner)
    try {
      const { transports, value } = parseRoutedReply(await inner.promise as Uint8Array)
      traced(trace, path, transports)
      call.resolve(value)
      this.#tryDirectLater(call.node)
    } catch (err) {
      const error = err instanceof ErrorBody ? errorFromBody(err.body, err.from) : err as MeshError
      // A hop that could not pass the call on (or our first hop that could not be reached) never
      // delivered it: safe to look for another route. Anything else may have run.
      const notDelivered = error.code === ErrorCode.UNREACHABLE && error.node !== call.node
      if (notDelivered || error instanceof ConnectionLostError) this.#resolver.forget(call.node)
      if (notDelivered) return error
      call.reject(error)
    }
  }

  /**
   * Calls a direct link could not send (its peer became unreachable before they left): look for
   * another route once; routed calls (raw) and calls already re-routed fail with `reason`.
   */
  #reroute (calls: PendingCall[], reason: UnreachableError): void {
    for (const call of calls) {
      if (call.raw || call.reroutes > 0 || call.node === this.nodeId) {
        call.reject(reason)
        continue
      }
      call.reroutes++
      this.#resolver.forget(call.node)
      void this.#resolveAndSend(call, undefined)
    }
  }

  /**
   * A call to a neighbour over an open connection only (route discovery must not itself start a
   * dial or a discovery).
   */
  async #callNeighbour (nodeId: string, method: string, args: unknown, timeout: number): Promise<unknown> {
    if (!this.#isConnected(nodeId)) throw new UnreachableError(`${nodeId} is no longer connected`)
    // a neighbour whose stream does not come soon is skipped (it would hold a whole route discovery
    // up to the dial timeout)
    await this.#streamSoon(nodeId)
    return this.call(nodeId, method, args, { timeout: Math.max(1, Math.floor(timeout)) })
  }

  /**
   * After a call through gateways, tries (at most every DIRECT_RETRY ms per node) to connect to the
   * destination directly, so later calls skip the gateways when it turns out to be dialable.
   */
  #tryDirectLater (nodeId: string): void {
    const now = performance.now()
    if ((this.#directTried.get(nodeId) ?? -Infinity) > now - DIRECT_RETRY) return
    this.#directTried.set(nodeId, now)
    if (this.#directTried.size > 10_000) this.#directTried.delete(this.#directTried.keys().next().value as string)
    this.#directLink(nodeId).then(() => { this.#resolver.forget(nodeId) }, () => {})
  }

  /**
   * A stream pool with at least one stream to `nodeId`, opened if needed; rejects if unreachable
   * directly. A node at its connection limit does not dial: the new connection would push libp2p
   * over `maxConnections`, whose pruner closes the newest connection without streams, the one just
   * dialled (and others with it). Such a destination is reached through gateways instead.
   */
  async #directLink (nodeId: string): Promise<StreamPool> {
    const pool = this.#link(nodeId)
    if (pool.draining) throw new UnreachableError(`the connection to ${nodeId} is closing`, { node: this.nodeId })
    if (pool.streams === 0 && !this.#isConnected(nodeId) && !this.#hasRoom()) {
      throw new UnreachableError(`not dialling ${nodeId}: ${this.nodeId} is at its connection limit`, { node: this.nodeId })
    }
    await pool.connect()
    return pool
  }

  /** Room for a connection of our own (see {@link #ownConnections}). */
  #hasRoom (): boolean {
    return this.#libp2p.getConnections().length < this.#ownConnections
  }

  /**
   * How many connections this node fills by dialling: two below the limit, so nodes that join (or
   * lost their connections) can still connect to it.
   */
  get #ownConnections (): number {
    return Math.max(2, this.#config.maxConnections - 2)
  }

  /**
   * Closes the connection to a neighbour without losing a call: its RPC streams drain first (GOAWAY
   * both ways, calls in flight either way finish), then it hangs up. A call lost on a closed stream
   * could not be retried, since it may have run.
   */
  #trim (nodeId: string): void {
    const pool = this.#link(nodeId)
    const close = async (): Promise<void> => {
      // GOAWAY travels on a stream, so there must be one: else a stream the peer is opening for a
      // call right now would meet a closed connection. The peer answers GOAWAY only once a stream it
      // was opening has been accepted here (StreamPool.drain), so when every stream here is drained,
      // none is still on its way. Our own call on a stream being opened is handed back and rerouted.
      if (this.#isConnected(nodeId)) await this.#streamSoon(nodeId).catch(() => {})
      await pool.drain()
      await this.#libp2p.hangUp(peerIdFromString(nodeId))
    }
    close().catch(() => {}).finally(() => {
      // a pool whose streams all closed is forgotten when the last one does; one that had none, here
      if (pool.streams === 0 && this.#pools.get(nodeId) === pool) this.#pools.delete(nodeId)
    })
  }

  /** An RPC stream to a connected node, if it comes within LINK_WAIT (on an open connection it takes milliseconds). */
  async #streamSoon (nodeId: string): Promise<StreamPool> {
    return within(this.#directLink(nodeId), LINK_WAIT, `no RPC stream to ${nodeId}`)
  }

  /**
   * The process behind `nodeId` exited (a shared-memory link saw it go). Its QUIC connections are
   * dead, but QUIC would notice only at its idle timeout, and a process restarted with the same key
   * on the same port resets them only when the next packet reaches it: a call made meanwhile would
   * be written to the old connection and lost. They are closed now, so later calls dial afresh.
   */
  #onPeerExited (nodeId: string): void {
    const reason = new ConnectionLostError(`the process of ${nodeId} exited`, { node: nodeId })
    for (const connection of this.#libp2p.getConnections(peerIdFromString(nodeId))) connection.abort(reason)
  }

  /** An open connection that is not closing (a draining pool takes no new calls). */
  #isConnected (nodeId: string): boolean {
    if (this.#pools.get(nodeId)?.draining === true) return false
    try {
      return this.#libp2p.getConnections(peerIdFromString(nodeId)).some(c => c.status === 'open')
    } catch {
      return false
    }
  }

  #onSettle = (call: PendingCall, err?: unknown): void => {
    this.#deadlines.delete(call)
    call.detach?.()
    if (err !== undefined) countCode(this.#counters.callErrors, (err as MeshError).code ?? 'UNKNOWN')
  }

  /** The link a call to `pool.remote` takes: a fast path (shm, udp) when one is up, else the QUIC pool. */
  #select (pool: StreamPool): PeerLink {
    return this.#fastPaths.select(pool.remote, pool)
  }

  /** The stream pool to a node, created on first use. */
  #link (nodeId: string): StreamPool {
    return this.#pools.get(nodeId) ?? this.#createPool(nodeId, checkNodeId(nodeId))
  }

  #createPool (nodeId: string, peer: PeerId): StreamPool {
    const pool: StreamPool = new StreamPool({
      remote: nodeId,
      maxStreams: this.#config.quic.streamsPerPeer,
      maxQueued: this.#config.maxQueuedPerPeer,
      openStream: async () => this.#openStream(peer),
      channel: { local: this.nodeId, maxFrameSize: this.#config.maxFrameSize, handler: this.#gateway, counters: this.#counters },
      onIdle: () => { if (this.#pools.get(nodeId) === pool) this.#pools.delete(nodeId) },
      onUnreachable: (calls, reason) => { this.#reroute(calls, reason) },
      drainTimeout: DRAIN_TIMEOUT,
      onPeerDrain: () => { this.#neighbours.avoid(nodeId) }
    })
    this.#pools.set(nodeId, pool)
    return pool
  }

  #onInboundStream (stream: Stream, peer: PeerId): void {
    if (this.#stopping !== undefined) {
      stream.abort(new ClosedError())
      return
    }
    this.#counters.streamsAccepted++
    const nodeId = peer.toString()
    const pool = this.#pools.get(nodeId) ?? this.#createPool(nodeId, peer)
    pool.addStream(stream)
  }

  async #openStream (peer: PeerId): Promise<Stream> {
    const signal = this.#dialSignal()
    let stream: Stream
    try {
      stream = await raceSignal(this.#libp2p.dialProtocol(peer, RPC_PROTOCOL, { signal }), signal)
    } catch (err) {
      const name = (err as Error).name
      if (signal.aborted || (name !== 'NoValidAddressesError' && name !== 'ConnectionClosedError')) throw err
      if (name === 'NoValidAddressesError') {
        // The peer store knew the peer but no address (see notes P19): ask the DHT itself.
        this.#counters.dhtLookups++
        await this.#libp2p.peerRouting.findPeer(peer, { useCache: false, signal })
      }
      // Else the connection began closing (pruned, or trimmed by the peer) as the stream opened:
      // once more, on a new connection if the closing one is gone.
      stream = await raceSignal(this.#libp2p.dialProtocol(peer, RPC_PROTOCOL, { signal }), signal)
    }
    this.#counters.streamsOpened++
    return stream
  }

  #dialSignal (): AbortSignal {
    return AbortSignal.any([AbortSignal.timeout(this.#config.dialTimeout), this.#shutdown.signal])
  }

  async #stop (): Promise<void> {
    const reason = new ClosedError(`node ${this.nodeId} stopped`)
    this.#shutdown.abort(reason)
    this.#neighbours.stop()
    this.#pubsub.stop()
    this.#fastPaths.stop(reason)
    for (const pool of this.#pools.values()) pool.close(reason)
    this.#pools.clear()
    for (const call of this.#deadlines.drain()) call.abandon(reason)
    this.#gateway.close()
    try {
      await this.#libp2p.unhandle(RPC_PROTOCOL)
    } catch {}
    await this.#libp2p.stop()
  }
}

function checkNodeId (nodeId: string): PeerId {
  try {
    return peerIdFromString(nodeId)
  } catch (err) {
    throw new BadRequestError(`${nodeId} is not a node id`, { cause: err })
  }
}

function traced (trace: CallTrace | undefined, path: string[], transports: TransportName[]): void {
  if (trace === undefined) return
  trace.path = path
  trace.transports = transports
}

/** Checks a route discovery request from another node. */
function checkFindRoute (request: FindRouteRequest): FindRouteRequest {
  const r = request as Partial<FindRouteRequest> | null
  if (typeof r?.destination !== 'string' || !Array.isArray(r.explored) || r.explored.length > 4096 ||
      r.explored.some(e => typeof e !== 'string') || !Number.isInteger(r.budget) || (r.budget as number) < 1 || (r.budget as number) > MAX_HOP_BUDGET) {
    throw new BadRequestError('malformed route discovery request')
  }
  return r as FindRouteRequest
}

/** Resolves once the DHT routing table holds a peer, or when `signal` aborts. */
async function routingTableReady (libp2p: MeshLibp2p, signal: AbortSignal): Promise<void> {
  const table = libp2p.services.dht.routingTable as unknown as EventTarget & { size: number }
  if (table.size > 0 || signal.aborted) return
  await new Promise<void>(resolve => {
    const done = (): void => {
      table.removeEventListener('peer:add', done)
      signal.removeEventListener('abort', done)
      resolve()
    }
    table.addEventListener('peer:add', done)
    signal.addEventListener('abort', done)
  })
}

/**
 * Rejects when `signal` aborts even if `promise` never settles: dialProtocol can hang past its
 * signal when the remote's stream limit is reached (notes P10). A stream that arrives after we gave
 * up is aborted.
 */
async function raceSignal (promise: Promise<Stream>, signal: AbortSignal): Promise<Stream> {
  let gaveUp = false
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => { gaveUp = true; reject(signal.reason) }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
  promise.then((stream) => { if (gaveUp) stream.abort(new ClosedError('stream opened too late')) }, () => {})
  try {
    return await Promise.race([promise, aborted])
  } finally {
    if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
  }
}
