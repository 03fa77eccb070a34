/**
 * The transport selector and the fast paths it sets up: per peer, a shared-memory ring pair (same
 * host) or a UDP session (loopback, private or link-local address), agreed over the peers' QUIC
 * connection, with QUIC behind each as the fallback. See docs/transports.md "Fast paths".
 *
 * The first calls to a peer go over QUIC while the handshake runs in the background; later calls
 * take the fast path once it is confirmed both ways. A path that fails is dropped and retried no
 * sooner than RETRY_MS later; meanwhile calls go over QUIC. Without the native addon everything
 * runs on QUIC (the loader logs why, once).
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { networkInterfaces } from 'node:os'
import { logger } from '@libp2p/logger'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { Context } from '../../actors/context.js'
import { ClosedError, ConnectionLostError, ForbiddenError, type MeshError } from '../../errors.js'
import type { MeshConfig } from '../../options.js'
import { type Counters, countCode } from '../../stats.js'
import type { InboundHandler, PeerLink } from '../interfaces.js'
import { loadNativeBinding, type NativeBinding } from '../native/binding.js'
import { cleanStale } from '../native/shm.js'
import { NativeUdpSocket, type NativeUdpStats } from '../native/udp.js'
import { transportsFor } from '../selector.js'
import { ShmStream } from '../shm/stream.js'
import { linkCall } from '../system-call.js'
import { DATAGRAM_OVERHEAD, type DropReason } from '../udp/datagram.js'
import { type DatagramSocket, UdpEndpoint } from '../udp/endpoint.js'
import type { UdpSession } from '../udp/session.js'
import { checkAnswer, checkOffer, type HelloAnswer, type HelloOffer, HELLO_METHOD, HELLO_VERSION, TOKEN_BYTES } from './hello.js'
import { FastLink, type FastLinkStats } from './link.js'

const log = logger('kadmesh:transport:fastpath')

/** ms before a peer whose fast path failed (or could not be set up) is tried again. */
export const RETRY_MS = 30_000
/** ms a handshake may take. */
export const HELLO_TIMEOUT = 5_000
/** ms a path may take to be confirmed both ways after the handshake before it is dropped. */
export const CONFIRM_TIMEOUT = 10_000
/** Most shared-memory links at once (each maps two rings); further same-host peers get UDP. */
export const MAX_SHM_LINKS = 64
/** Peers whose fast-path state is remembered; the oldest idle ones are forgotten beyond this. */
const MAX_PEERS = 4096

export interface FastPathsInit {
  nodeId: string
  udp: MeshConfig['udp']
  shm: MeshConfig['shm']
  /** The node's listen multiaddrs (the UDP socket binds to the first one's host by default). */
  listen: string[]
  /** ms a datagram (or a silent peer that calls wait on) may go unanswered before the path is dead. */
  deadAfter: number
  /** ms of silence before a peer that calls wait on is probed. */
  keepAlive: number
  maxFrameSize: number
  /** Calls that may wait for window space on a fast path (as `maxQueuedPerPeer` on QUIC). */
  maxQueued: number
  counters: Counters
  handler: InboundHandler
  /** The IP address the open QUIC connection to `nodeId` comes from, if there is one. */
  remoteAddress: (nodeId: string) => string | undefined
  /** The QUIC link to `nodeId`: the fallback, and the way handshakes travel. */
  quicLink: (nodeId: string) => PeerLink
  /** A shared-memory link saw the process of `nodeId` exit: its QUIC connections are dead too. */
  peerExited: (nodeId: string) => void
  /** The addon; default: {@link loadNativeBinding} (undefined when it is not available). */
  binding?: NativeBinding | null
  /** Wraps the UDP socket (tests inject loss this way). */
  wrapSocket?: (socket: DatagramSocket) => DatagramSocket
}

/** The QUIC link to a peer, as the selector sees it (a StreamPool). */
export interface QuicLink extends PeerLink {
  stats: () => { outstanding: number, queued: number }
}

export interface FastPathStats {
  /** Why there is no fast path at all, when there is none (no addon, both disabled). */
  unavailable?: string
  udp?: { port: number, sessions: number, socket: NativeUdpStats, sendFull: number }
  links: FastLinkStats[]
}

interface PeerState {
  links: FastLink[]
  settingUp: boolean
  retryAt: number
}

export class FastPaths {
  readonly #init: FastPathsInit
  readonly #peers = new Map<string, PeerState>()
  #binding: NativeBinding | undefined
  #unavailable: string | undefined
  #endpoint: UdpEndpoint | undefined
  #socket: NativeUdpSocket | undefined
  #localIps = new Set<string>()
  #hostId = ''
  #shmLinks = 0
  #started = false
  #stopped = false

  constructor (init: FastPathsInit) {
    this.#init = init
  }

  /** The system actor's handlers (register them as FASTPATH_ACTOR, `_mesh.fastpath`). */
  readonly handlers = {
    hello: async (offer: unknown, ctx: Context): Promise<HelloAnswer> => this.#onHello(offer, ctx)
  }

  /** Loads the addon, cleans up stale ring files, opens the UDP socket. Never throws: a failure leaves QUIC only, logged. */
  start (): void {
    if (this.#started) return
    this.#started = true
    const { udp, shm } = this.#init
    if (!udp.enabled && !shm.enabled) {
      this.#unavailable = 'udp and shm are disabled'
      return
    }
    if (this.#init.binding === undefined) {
      const loaded = loadNativeBinding()
      this.#binding = loaded.binding
      this.#unavailable = loaded.reason
    } else {
      this.#binding = this.#init.binding ?? undefined
      this.#unavailable = this.#binding === undefined ? 'no native addon' : undefined
    }
    if (this.#binding === undefined) return
    this.#localIps = localAddresses()
    this.#hostId = bootId()
    if (shm.enabled) cleanStale()
    if (udp.enabled) this.#openUdp()
  }

  /** Closes every fast path (their calls fail with `reason`) and the socket. Idempotent. */
  stop (reason: MeshError = new ClosedError()): void {
    if (this.#stopped) return
    this.#stopped = true
    for (const peer of this.#peers.values()) for (const link of [...peer.links]) link.close(reason)
    this.#peers.clear()
    this.#endpoint?.close(reason)
  }

  /**
   * The link a call to `nodeId` takes: its fast path when one is up, else `quic` (starting the
   * handshake in the background when the peer qualifies and none was tried lately).
   *
   * A confirmed fast path is taken from the first moment nothing is in flight over QUIC to that
   * peer: a call sent over the fast path while earlier ones were still on their way over QUIC
   * could overtake them, and a caller's calls must reach an actor in order.
   */
  select (nodeId: string, quic: QuicLink): PeerLink {
    const peer = this.#peers.get(nodeId)
    if (peer !== undefined) {
      for (const link of peer.links) {
        if (!link.ready) continue
        if (!link.inUse) {
          const q = quic.stats()
          if (q.outstanding > 0 || q.queued > 0) return quic
          link.inUse = true
        }
        return link
      }
      if (peer.settingUp || performance.now() < peer.retryAt) return quic
    }
    if (this.#binding !== undefined && !this.#stopped) this.#setUp(nodeId, peer)
    return quic
  }

  stats (): FastPathStats {
    const links: FastLinkStats[] = []
    for (const peer of this.#peers.values()) {
      for (const link of peer.links) links.push(link.stats())
    }
    const udp = this.#endpoint === undefined || this.#socket === undefined ? undefined : { ...this.#endpoint.stats(), socket: this.#socket.stats() }
    return { ...(this.#unavailable === undefined ? {} : { unavailable: this.#unavailable }), ...(udp === undefined ? {} : { udp }), links }
  }

  #openUdp (): void {
    const { udp, deadAfter, keepAlive } = this.#init
    try {
      const host = udp.host ?? listenHost(this.#init.listen)
      const socket = new NativeUdpSocket(this.#binding!, {
        host,
        port: udp.port,
        slotSize: udp.maxDatagramSize,
        mode: udp.busyPollUs > 0 ? 'busy' : 'poll',
        busyIdleUs: udp.busyPollUs,
        onError: (err) => { log.error('UDP receive error: %s', err.message) }
      })
      this.#socket = socket
      this.#endpoint = new UdpEndpoint({
        socket: this.#init.wrapSocket?.(socket) ?? socket,
        maxDatagramSize: udp.maxDatagramSize,
        deadAfter,
        keepAlive,
        onDrop: this.#drop
      })
      log('UDP fast path on %s:%d', host, socket.port)
    } catch (err) {
      log.error('UDP fast path unavailable: %s', (err as Error).message)
      this.#socket?.close()
      this.#socket = undefined
    }
  }

  #drop = (reason: DropReason | 'shm-auth' | 'shm-corrupt'): void => {
    countCode(this.#init.counters.fastPathDropped, reason)
  }

  #peer (nodeId: string): PeerState {
    let peer = this.#peers.get(nodeId)
    if (peer === undefined) {
      if (this.#peers.size >= MAX_PEERS) this.#forgetIdlePeer()
      peer = { links: [], settingUp: false, retryAt: 0 }
      this.#peers.set(nodeId, peer)
    }
    return peer
  }

  #forgetIdlePeer (): void {
    for (const [nodeId, peer] of this.#peers) {
      if (peer.links.length === 0 && !peer.settingUp) {
        this.#peers.delete(nodeId)
        return
      }
    }
  }

  /** Asks `nodeId` for a fast path, in the background. */
  #setUp (nodeId: string, known: PeerState | undefined): void {
    const peer = known ?? this.#peer(nodeId)
    peer.retryAt = performance.now() + RETRY_MS
    const ip = this.#init.remoteAddress(nodeId)
    if (ip === undefined) {
      peer.retryAt = performance.now() + 100 // not connected yet: look again on a later call
      return
    }
    const want = transportsFor(ip, this.#localIps, {
      shm: this.#init.shm.enabled && this.#shmLinks < MAX_SHM_LINKS,
      udp: this.#canSendTo(ip)
    })
    if (!want.shm && !want.udp) return
    peer.settingUp = true
    this.#ask(nodeId, ip, want).catch((err: Error) => {
      log('no fast path to %s: %s', nodeId, err.message)
    }).finally(() => { peer.settingUp = false })
  }

  async #ask (nodeId: string, ip: string, want: { shm: boolean, udp: boolean }): Promise<void> {
    const offer: HelloOffer = { v: HELLO_VERSION, host: this.#hostId, uid: process.getuid?.() ?? -1 }
    let shm: ShmStream | undefined
    const token = randomBytes(TOKEN_BYTES)
    if (want.shm) {
      const name = randomBytes(16).toString('hex')
      try {
        shm = ShmStream.create(this.#binding!, { name, capacity: this.#init.shm.ringSize, idleSpinUs: this.#init.shm.idleSpinUs, expect: token, onDrop: this.#drop })
        offer.shm = { name, token }
      } catch (err) {
        log('cannot create shared-memory rings: %s', (err as Error).message)
      }
    }
    let session: UdpSession | undefined
    if (want.udp) {
      session = this.#endpoint!.createSession()
      offer.udp = { id: session.id, key: session.key, port: this.#endpoint!.port }
    }
    if (offer.shm === undefined && offer.udp === undefined) return
    let answer: HelloAnswer
    try {
      // over QUIC, never through a fast path
      answer = checkAnswer(await linkCall(this.#init.quicLink(nodeId), nodeId, HELLO_METHOD, offer, HELLO_TIMEOUT))
      if (this.#stopped) throw new ClosedError()
    } catch (err) {
      shm?.abort(err as Error)
      session?.close(err as Error, false)
      throw err
    }
    if (answer.shm !== undefined && shm !== undefined) {
      session?.close(undefined, false)
      shm.prove(answer.shm.token)
      this.#addShm(nodeId, shm)
    } else if (answer.udp !== undefined && session !== undefined) {
      shm?.abort(new ClosedError('the peer chose UDP'))
      session.connect({ ...answer.udp, address: ip }, true)
      this.#addUdp(nodeId, session)
    } else {
      shm?.abort(new ClosedError('the peer chose QUIC'))
      session?.close(undefined, false)
    }
  }

  /** The answering side of the handshake. */
  async #onHello (value: unknown, ctx: Context): Promise<HelloAnswer> {
    if (ctx.hops !== 1) throw new ForbiddenError('a fast-path handshake must come straight from the peer, not through gateways')
    let offer: HelloOffer
    try {
      offer = checkOffer(value)
    } catch (err) {
      countCode(this.#init.counters.servedErrors, (err as MeshError).code)
      throw err
    }
    const caller = ctx.caller
    if (this.#binding === undefined || this.#stopped) return {}
    // The caller asks because it has no path to us: one we hold from before is stale (it restarted).
    // A link younger than a handshake may be the other half of a handshake crossing this one: kept.
    const before = performance.now() - HELLO_TIMEOUT
    for (const link of [...this.#peers.get(caller)?.links ?? []]) {
      if (link.createdAt < before) link.close(new ConnectionLostError(`${caller} set up a new fast path`))
    }
    if (offer.shm !== undefined && this.#init.shm.enabled && this.#hostId !== '' && offer.host === this.#hostId &&
        offer.uid === (process.getuid?.() ?? -2) && this.#shmLinks < MAX_SHM_LINKS) {
      const token = randomBytes(TOKEN_BYTES)
      try {
        const stream = ShmStream.open(this.#binding, { name: offer.shm.name, idleSpinUs: this.#init.shm.idleSpinUs, expect: token, onDrop: this.#drop })
        stream.prove(offer.shm.token)
        this.#addShm(caller, stream)
        return { shm: { token } }
      } catch (err) {
        log('cannot open the shared-memory rings %s offered: %s', caller, (err as Error).message)
      }
    }
    const ip = this.#init.remoteAddress(caller)
    if (offer.udp !== undefined && ip !== undefined && this.#canSendTo(ip) && transportsFor(ip, this.#localIps, { shm: false, udp: true }).udp) {
      const session = this.#endpoint!.createSession()
      session.connect({ ...offer.udp, address: ip }, false)
      this.#addUdp(caller, session)
      return { udp: { id: session.id, key: session.key, port: this.#endpoint!.port } }
    }
    return {}
  }

  /** True when the UDP socket can send to `ip` (same address family). */
  #canSendTo (ip: string): boolean {
    if (this.#endpoint === undefined || this.#socket === undefined) return false
    return this.#socket.family === 4 ? !ip.includes(':') : ip.includes(':') || this.#socket.address === '::'
  }

  #addShm (nodeId: string, stream: ShmStream): void {
    this.#shmLinks++
    this.#addLink(nodeId, 'shm', stream, this.#init.maxFrameSize, () => stream.proven, () => ({ ...stream.stats(), peerPid: stream.peerPid, path: stream.path }), () => {
      this.#shmLinks--
      if (stream.peerExited && !this.#stopped) this.#init.peerExited(nodeId)
    })
  }

  #addUdp (nodeId: string, session: UdpSession): void {
    const maxFrame = this.#init.udp.maxDatagramSize - DATAGRAM_OVERHEAD
    const link = this.#addLink(nodeId, 'udp', session, maxFrame, () => session.usable, () => ({ ...session.stats() }))
    session.interested = () => link.busy
  }

  #addLink (nodeId: string, transport: 'udp' | 'shm', stream: ShmStream | UdpSession, maxFrame: number, ready: () => boolean,
    detail: () => Record<string, number | string>, onEnd?: () => void): FastLink {
    const counters = this.#init.counters
    const peer = this.#peer(nodeId)
    peer.retryAt = performance.now() + RETRY_MS // this link is being confirmed: no handshake of our own meanwhile
    const link: FastLink = new FastLink({
      remote: nodeId,
      transport,
      stream,
      channel: { local: this.#init.nodeId, maxFrameSize: this.#init.maxFrameSize, handler: this.#init.handler, counters },
      maxQueued: this.#init.maxQueued,
      maxFrame,
      ready,
      detail,
      fallback: () => this.#init.quicLink(nodeId),
      onClose: (_link, reason) => {
        clearTimeout(confirm)
        onEnd?.()
        const i = peer.links.indexOf(link)
        if (i !== -1) peer.links.splice(i, 1)
        if (this.#stopped) return
        counters.fastPathsFailed++
        peer.retryAt = performance.now() + RETRY_MS
        log('%s fast path to %s closed: %s', transport, nodeId, reason?.message ?? 'closed')
      }
    })
    // a path nobody confirms (the other side gave up on the handshake) must not linger
    const confirm = setTimeout(() => {
      if (!link.ready && !link.closed) link.close(new ClosedError(`the ${transport} fast path to ${nodeId} was never confirmed`))
    }, CONFIRM_TIMEOUT)
    confirm.unref()
    peer.links.push(link)
    counters.fastPathsOpened++
    log('%s fast path to %s', transport, nodeId)
    return link
  }
}

/** The part of libp2p {@link remoteIp} reads. */
interface Connections {
  getConnections: (peer: PeerId) => Array<{ status: string, remoteAddr: Multiaddr }>
}

/** The IP address an open connection to `nodeId` comes from (the first open one), if any. */
export function remoteIp (libp2p: Connections, nodeId: string): string | undefined {
  try {
    for (const connection of libp2p.getConnections(peerIdFromString(nodeId))) {
      if (connection.status !== 'open') continue
      const ip = connection.remoteAddr.getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')?.value
      if (ip !== undefined) return ip
    }
  } catch {}
  return undefined
}

/** This host's interface addresses (a peer connecting from one of them is on this host). */
function localAddresses (): Set<string> {
  const out = new Set<string>()
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address)
  return out
}

/** The kernel's boot id: two processes that read the same one run on the same host (or VM). */
function bootId (): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    return ''
  }
}

/** The host of the first /ip4 or /ip6 listen address, else 0.0.0.0. */
function listenHost (listen: string[]): string {
  for (const address of listen) {
    try {
      const host = multiaddr(address).getComponents().find(c => c.name === 'ip4' || c.name === 'ip6')?.value
      if (host !== undefined) return host
    } catch {}
  }
  return '0.0.0.0'
}
