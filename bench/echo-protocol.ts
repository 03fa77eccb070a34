/**
 * The raw libp2p echo protocol the kadmesh numbers are compared against: varint length-prefixed
 * frames (notes §1.6), echoed back unchanged, one protocol for both client patterns.
 *
 * - new stream per call: the client sends one frame `[payload]` and half-closes; the server echoes
 *   the frame and, when it sees the client's FIN, closes its side.
 * - one reused stream: frames are `[u32 request id][payload]`, many pipelined on one long-lived
 *   stream; replies are matched by id, so they may come back in any order.
 */
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import * as varint from 'uint8-varint'
import { Uint8ArrayList } from 'uint8arraylist'

export const ECHO_PROTOCOL = '/kadmesh-bench/echo/1.0.0'
/** Above the 64 calls in flight of the per-call pattern (libp2p defaults: 32 in, 64 out, notes P17). */
export const MAX_ECHO_STREAMS = 128
const MAX_FRAME = 4 * 1024 * 1024
const DIAL_TIMEOUT_MS = 10_000

function frame (...parts: Uint8Array[]): Uint8ArrayList {
  let length = 0
  for (const p of parts) length += p.byteLength
  return new Uint8ArrayList(varint.encode(length), ...parts)
}

/** Normalizes what `close()` rejects with (a StreamAbortEvent, not an Error: notes P14). */
function asError (err: unknown): Error {
  if (err instanceof Error) return err
  const inner = (err as { error?: unknown } | undefined)?.error
  return inner instanceof Error ? inner : new Error(String(err))
}

/** Registers the echo server on a libp2p node. */
export async function handleEcho (node: Libp2p): Promise<void> {
  await node.handle(ECHO_PROTOCOL, (stream) => {
    const decoder = new LengthPrefixedDecoder({ maxDataLength: MAX_FRAME })
    stream.addEventListener('message', (evt) => {
      try {
        for (const data of decoder.decode(evt.data)) {
          stream.send(new Uint8ArrayList(varint.encode(data.byteLength), data))
        }
      } catch (err) {
        stream.abort(asError(err))
      }
    })
    stream.addEventListener('remoteCloseWrite', () => {
      stream.close().catch((err: unknown) => { stream.abort(asError(err)) })
    })
  }, { maxInboundStreams: MAX_ECHO_STREAMS, maxOutboundStreams: MAX_ECHO_STREAMS })
}

/** One call on a stream of its own: dial + protocol negotiation + request + reply. */
export async function echoOnNewStream (node: Libp2p, peer: PeerId, payload: Uint8Array): Promise<Uint8Array> {
  const stream = await node.dialProtocol(peer, ECHO_PROTOCOL, {
    signal: AbortSignal.timeout(DIAL_TIMEOUT_MS),
    maxOutboundStreams: MAX_ECHO_STREAMS
  })
  return new Promise<Uint8Array>((resolve, reject) => {
    const decoder = new LengthPrefixedDecoder({ maxDataLength: MAX_FRAME })
    let done = false
    const fail = (err: Error): void => {
      if (done) return
      done = true
      stream.abort(err)
      reject(err)
    }
    stream.addEventListener('message', (evt) => {
      try {
        for (const data of decoder.decode(evt.data)) {
          if (done) continue
          done = true
          resolve(data.subarray())
        }
      } catch (err) {
        fail(asError(err))
      }
    })
    stream.addEventListener('remoteCloseWrite', () => { fail(new Error('echo stream ended before the reply')) })
    stream.addEventListener('close', (evt) => { fail(evt.error ?? new Error('echo stream closed before the reply')) })
    try {
      stream.send(frame(payload))
    } catch (err) {
      fail(asError(err))
      return
    }
    // Half-close right after the request: FIN travels with (or just behind) the request bytes.
    stream.close().catch((err: unknown) => { fail(asError(err)) })
  })
}

interface Waiter {
  resolve: (value: Uint8Array) => void
  reject: (err: Error) => void
}

/** Many pipelined calls on one long-lived stream, matched to replies by a 4-byte request id. */
export class ReusedEchoClient {
  readonly #stream: Stream
  readonly #decoder = new LengthPrefixedDecoder({ maxDataLength: MAX_FRAME })
  readonly #waiting = new Map<number, Waiter>()
  #nextId = 0
  #failure: Error | undefined

  private constructor (stream: Stream) {
    this.#stream = stream
    stream.addEventListener('message', (evt) => {
      try {
        for (const data of this.#decoder.decode(evt.data)) this.#onReply(data)
      } catch (err) {
        stream.abort(asError(err))
      }
    })
    stream.addEventListener('remoteCloseWrite', () => { this.#fail(new Error('server ended the echo stream')) })
    stream.addEventListener('close', (evt) => { this.#fail(evt.error ?? new Error('echo stream closed')) })
  }

  static async open (node: Libp2p, peer: PeerId): Promise<ReusedEchoClient> {
    const stream = await node.dialProtocol(peer, ECHO_PROTOCOL, {
      signal: AbortSignal.timeout(DIAL_TIMEOUT_MS),
      maxOutboundStreams: MAX_ECHO_STREAMS
    })
    return new ReusedEchoClient(stream)
  }

  call (payload: Uint8Array): Promise<Uint8Array> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure)
    const id = this.#nextId
    this.#nextId = (this.#nextId + 1) >>> 0
    const header = new Uint8Array(4)
    new DataView(header.buffer).setUint32(0, id)
    return new Promise<Uint8Array>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject })
      // send() returns false on every QUIC write (notes §1.2); the bytes queue and go out on the next
      // drain. In-flight calls are bounded by the caller, so the queue is too.
      this.#stream.send(frame(header, payload))
    })
  }

  async close (): Promise<void> {
    this.#fail(new Error('echo client closed'))
    try {
      await this.#stream.close({ signal: AbortSignal.timeout(2_000) })
    } catch (err) {
      this.#stream.abort(asError(err))
    }
  }

  #onReply (data: Uint8ArrayList): void {
    const id = data.getUint32(0)
    const waiter = this.#waiting.get(id)
    if (waiter === undefined) return
    this.#waiting.delete(id)
    waiter.resolve(data.subarray(4))
  }

  #fail (err: Error): void {
    this.#failure ??= err
    for (const waiter of this.#waiting.values()) waiter.reject(err)
    this.#waiting.clear()
  }
}
