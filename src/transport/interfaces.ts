import type { MeshError } from '../errors.js'
import type { PendingCall } from '../actors/pending-call.js'
import type { ErrorBody } from '../wire/answers.js'

/** How a call travelled one hop. */
export type TransportName = 'quic' | 'udp' | 'shm' | 'local'

/**
 * A call or cast that arrived for this node, as a transport hands it to the gateway. The gateway
 * answers exactly once with `reply` or `fail` (for casts, either just returns the flow-control
 * credit); after a cancel, answers are ignored.
 */
export interface InboundRequest {
  /** The caller's node id, as authenticated by the transport. */
  readonly caller: string
  readonly method: string
  /** The msgpack-encoded arguments. */
  readonly payload: Uint8Array
  /** For a call travelling through gateways: its route header (empty otherwise). */
  readonly route: Uint8Array
  /** Milliseconds the caller still waits for the result (0 for casts). */
  readonly timeout: number
  readonly oneWay: boolean
  readonly transport: TransportName
  /** Set by the gateway; called at most once when the caller cancels or the transport dies first. */
  onCancel: ((reason: MeshError) => void) | undefined
  reply (value: unknown): void
  /** `fromHandler`: the error was thrown by user code (the caller gets a RemoteError). */
  fail (err: unknown, fromHandler: boolean): void
  /** A forwarder passes back the next hop's routed REPLY body (the transport adds its hop). */
  replyRaw (body: Uint8Array): void
  /** A forwarder passes back the next hop's ERROR body unchanged. */
  failRaw (error: ErrorBody): void
}

/** Receives inbound requests from every transport: the gateway actor. */
export interface InboundHandler {
  onRequest (req: InboundRequest): void
}

/**
 * A way to reach one peer that carries calls and casts: the QUIC stream pool now, the native UDP and
 * shared-memory links later. `submit` never throws; the call settles through its own promise.
 */
export interface PeerLink {
  readonly transport: TransportName
  submit (call: PendingCall): void
  /** Rejects everything it holds with `reason` and releases its resources. */
  close (reason: MeshError): void
}

/** The part of a libp2p v3 stream a channel uses (a test can hand it an in-memory pair). */
export interface FrameStream {
  send (data: Uint8Array): boolean
  abort (err: Error): void
  addEventListener (type: 'message', listener: (evt: { data: Uint8Array | Iterable<Uint8Array> }) => void): void
  addEventListener (type: 'close' | 'remoteCloseWrite', listener: (evt: Event) => void): void
}
