import { AbortedError, ConnectionLostError, type MeshError, OverloadedError, errorToWire } from '../../errors.js'
import type { CallTarget, PendingCall } from '../../actors/pending-call.js'
import type { Counters } from '../../stats.js'
import { countCode } from '../../stats.js'
import { type Frame, FrameType, LENGTH_SIZE, STREAM_WINDOW_BYTES, STREAM_WINDOW_FRAMES } from '../../wire/frame.js'
import { FrameDecoder, MalformedFrameError, parseFrame } from '../../wire/frame-decoder.js'
import { FrameWriter, methodBytes } from '../../wire/frame-writer.js'
import { decodePayload, encodePayload } from '../../wire/payload.js'
import { ErrorBody, errorFromBody, prependHop, routedReply } from '../../wire/answers.js'
import { IntMap } from '../../util/int-map.js'
import type { FrameStream, InboundHandler, InboundRequest, TransportName } from '../interfaces.js'

export interface ChannelInit {
  stream: FrameStream
  /** The authenticated peer at the other end. */
  remote: string
  /** This node's id (named in the errors it sends). */
  local: string
  maxFrameSize: number
  handler: InboundHandler
  counters: Counters
  /** What carries the stream (reported in route traces and to handlers); default `quic`. */
  transport?: TransportName
  /** Window space was freed: the owner may send more. */
  onReady: (channel: Channel) => void
  /** The channel died; `unsent` were handed to it but never written and may go elsewhere. */
  onClose: (channel: Channel, unsent: PendingCall[]) => void
  /**
   * The peer sent GOAWAY: it wants the stream (and its connection) closed. The owner answers with
   * {@link Channel.goAway} when it is ready to (a pool first waits for a stream it is opening);
   * without this callback the channel answers at once.
   */
  onGoAway?: (channel: Channel) => void
  /** After GOAWAY both ways, nothing is in flight either way any more: the stream may close. */
  onQuiet?: (channel: Channel) => void
}

/**
 * One long-lived stream carrying many calls in both directions. Frames are appended to one buffer
 * and written with a single `send` per microtask tick. Flow control: this side keeps at most
 * STREAM_WINDOW_FRAMES / STREAM_WINDOW_BYTES of calls and casts outstanding (a call until its reply,
 * a cast until a CREDIT frame returns it) and refuses, counted, anything a peer sends beyond that
 * window, so neither side's memory grows with a slow peer (QUIC in libp2p v3 has no read
 * backpressure). A stream that closes or is reset rejects its written calls with a retryable
 * CONNECTION_LOST and hands back the ones it had not written yet.
 */
export class Channel implements CallTarget {
  readonly remote: string
  readonly transport: TransportName
  readonly #init: ChannelInit
  readonly #stream: FrameStream
  readonly #writer: FrameWriter
  readonly #decoder: FrameDecoder
  readonly #pending = new IntMap<PendingCall>()
  #unflushed: PendingCall[] = []
  #nextId = 0
  #outFrames = 0
  #outBytes = 0
  readonly #inbound = new IntMap<InboundEntry>()
  #inFrames = 0
  #inBytes = 0
  #creditFrames = 0
  #creditBytes = 0
  #flushQueued = false
  #closed = false
  #goAwaySent = false
  #goAwayReceived = false

  constructor (init: ChannelInit) {
    this.#init = init
    this.remote = init.remote
    this.transport = init.transport ?? 'quic'
    this.#stream = init.stream
    this.#writer = new FrameWriter(init.maxFrameSize)
    this.#decoder = new FrameDecoder(init.maxFrameSize)
    init.stream.addEventListener('message', this.#onMessage)
    init.stream.addEventListener('close', (evt) => {
      this.#die(new ConnectionLostError(`stream to ${this.remote} closed`, { node: this.remote, cause: (evt as Event & { error?: Error }).error }))
    })
    init.stream.addEventListener('remoteCloseWrite', () => {
      this.#die(new ConnectionLostError(`${this.remote} closed the stream`, { node: this.remote }))
    })
  }

  get closed (): boolean { return this.#closed }
  /** GOAWAY was sent or received: no new calls go on this stream. */
  get draining (): boolean { return this.#goAwaySent || this.#goAwayReceived }
  /** Drained: GOAWAY both ways and nothing in flight either way. */
  get quiet (): boolean { return this.#goAwaySent && this.#goAwayReceived && this.#outFrames === 0 && this.#inFrames === 0 }
  /** Bytes of calls and casts outstanding on this stream (the pool spreads load by it). */
  get outstandingBytes (): number { return this.#outBytes }
  get outstandingFrames (): number { return this.#outFrames }
  /** Requests from the peer being served. */
  get serving (): number { return this.#inFrames }

  /** True when a frame of `size` bytes fits the window now. */
  canSend (size: number): boolean {
    return !this.#closed && !this.draining && this.#outFrames < STREAM_WINDOW_FRAMES &&
      (this.#outFrames === 0 || this.#outBytes + size <= STREAM_WINDOW_BYTES)
  }

  /** Writes a call or cast (the caller checked `canSend`). */
  send (call: PendingCall): void {
    const method = methodBytes(call.method)
    call.transport = this.transport
    let size: number
    try {
      if (call.oneWay) {
        size = this.#writer.cast(method, call.payload)
      } else {
        const id = this.#allocateId()
        size = call.route === undefined
          ? this.#writer.call(id, call.remaining(), method, call.payload)
          : this.#writer.route(id, call.remaining(), call.route, method, call.payload)
        call.id = id
        call.target = this
        this.#pending.set(id, call)
      }
    } catch (err) {
      call.reject(err)
      return
    }
    call.frameSize = size
    countCode(this.#init.counters.sentByTransport, this.transport)
    this.#outFrames++
    this.#outBytes += size
    this.#unflushed.push(call)
    this.#scheduleFlush()
  }

  /** CallTarget: the caller gave up; tell the peer so it aborts the handler's signal. */
  cancel (call: PendingCall): void {
    if (this.#closed || this.#pending.get(call.id) !== call) return
    this.#writer.cancel(call.id)
    this.#scheduleFlush()
  }

  /**
   * Ends the channel: rejects what it sent with `reason`, answers what it serves with `reason`,
   * writes those answers and closes the stream.
   */
  close (reason: MeshError): void {
    if (this.#closed) return
    for (const entry of [...this.#inbound.values()]) entry.cancel(reason)
    this.#flush()
    this.#die(reason)
  }

  /**
   * Graceful close, started by either side: GOAWAY tells the peer to start nothing new here; calls
   * and casts already sent either way finish. `onQuiet` reports when the stream is drained.
   */
  goAway (): void {
    if (this.#closed || this.#goAwaySent) return
    this.#goAwaySent = true
    this.#writer.goAway()
    this.#scheduleFlush()
    this.#checkQuiet()
  }

  #checkQuiet (): void {
    if (!this.quiet || this.#closed) return
    this.#flush()
    this.#init.onQuiet?.(this)
  }

  #allocateId (): number {
    do {
      this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1
    } while (this.#pending.has(this.#nextId))
    return this.#nextId
  }

  #scheduleFlush (): void {
    if (this.#flushQueued) return
    this.#flushQueued = true
    queueMicrotask(this.#flush)
  }

  #flush = (): void => {
    this.#flushQueued = false
    if (this.#closed) return
    if (this.#creditFrames > 0) {
      this.#writer.credit(this.#creditFrames, this.#creditBytes)
      this.#creditFrames = 0
      this.#creditBytes = 0
    }
    const bytes = this.#writer.take()
    if (bytes === undefined) return
    const batch = this.#unflushed
    this.#unflushed = []
    try {
      this.#stream.send(bytes)
    } catch (err) {
      this.#unflushed = batch
      this.#die(new ConnectionLostError(`stream to ${this.remote} failed`, { node: this.remote, cause: err }))
      return
    }
    for (const call of batch) if (call.oneWay) call.resolve(undefined)
  }

  #onMessage = (evt: { data: Uint8Array | Iterable<Uint8Array> }): void => {
    if (this.#closed) return
    try {
      const data = evt.data
      if (data instanceof Uint8Array) {
        this.#decoder.push(data, this.#onFrame)
      } else {
        for (const chunk of data) this.#decoder.push(chunk, this.#onFrame)
      }
    } catch (err) {
      // Only the decoder throws here (a length prefix out of range): the stream is out of sync.
      this.#init.counters.brokenStreams++
      countCode(this.#init.counters.servedErrors, (err as MeshError).code ?? 'UNKNOWN')
      this.#die(err as Error)
    }
  }

  #onFrame = (bytes: Uint8Array): void => {
    if (this.#closed) return
    let frame: Frame
    try {
      frame = parseFrame(bytes)
    } catch (err) {
      this.#onMalformed(err as MalformedFrameError, bytes.byteLength + LENGTH_SIZE)
      return
    }
    switch (frame.type) {
      case FrameType.CALL:
      case FrameType.CAST:
      case FrameType.ROUTE:
        this.#onRequest(frame)
        break
      case FrameType.REPLY:
      case FrameType.ERROR:
        this.#onAnswer(frame)
        break
      case FrameType.CANCEL:
        this.#inbound.get(frame.id)?.cancel(new AbortedError('the caller cancelled the call', { node: this.remote }))
        break
      case FrameType.CREDIT:
        this.#outFrames = Math.max(0, this.#outFrames - frame.frames)
        this.#outBytes = Math.max(0, this.#outBytes - frame.bytes)
        this.#init.onReady(this)
        if (this.#goAwaySent) this.#checkQuiet()
        break
      case FrameType.GOAWAY:
        if (this.#goAwayReceived) break
        this.#goAwayReceived = true
        if (this.#init.onGoAway !== undefined) this.#init.onGoAway(this)
        else this.goAway()
        this.#checkQuiet()
        break
    }
  }

  #onMalformed (err: MalformedFrameError, size: number): void {
    const counters = this.#init.counters
    counters.badFrames++
    countCode(counters.servedErrors, err.code)
    // Tell a caller whose call we cannot read (and return a cast's credit) so its window stays right.
    if ((err.type === FrameType.CALL || err.type === FrameType.ROUTE) && err.id !== 0 && !this.#inbound.has(err.id)) {
      this.#writeError(err.id, err)
    } else if (err.type === FrameType.CAST) {
      this.#returnCredit(size)
    }
  }

  #onRequest (frame: Frame): void {
    const counters = this.#init.counters
    const oneWay = frame.type === FrameType.CAST
    if (this.#inFrames >= STREAM_WINDOW_FRAMES || (this.#inFrames > 0 && this.#inBytes + frame.size > STREAM_WINDOW_BYTES)) {
      counters.flowViolations++
      countCode(counters.servedErrors, 'MESH_ERR_OVERLOADED')
      if (oneWay) {
        counters.castsDropped++
        this.#returnCredit(frame.size)
      } else {
        this.#writeError(frame.id, new OverloadedError(`${this.remote} exceeded the stream's flow-control window`))
      }
      return
    }
    if (!oneWay && this.#inbound.has(frame.id)) {
      counters.badFrames++
      countCode(counters.servedErrors, 'MESH_ERR_BAD_REQUEST')
      return
    }
    const entry = new InboundEntry(this, frame, oneWay)
    countCode(counters.receivedByTransport, this.transport)
    if (!oneWay) this.#inbound.set(frame.id, entry)
    this.#inFrames++
    this.#inBytes += frame.size
    this.#init.handler.onRequest(entry)
  }

  #onAnswer (frame: Frame): void {
    const call = this.#pending.get(frame.id)
    if (call === undefined) {
      this.#init.counters.unexpectedReplies++
      return
    }
    this.#pending.delete(frame.id)
    this.#outFrames--
    this.#outBytes -= call.frameSize
    if (call.settled) {
      // answered after a cancel or timeout: only the window slot comes back
    } else if (call.raw) {
      if (frame.type === FrameType.REPLY) call.resolve(frame.payload.slice())
      else call.reject(new ErrorBody(frame.payload.slice(), this.remote))
    } else {
      try {
        if (frame.type === FrameType.REPLY) call.resolve(decodePayload(frame.payload))
        else call.reject(errorFromBody(frame.payload, this.remote))
      } catch (err) {
        call.reject(err)
      }
    }
    this.#init.onReady(this)
    if (this.#goAwaySent) this.#checkQuiet()
  }

  /**
   * InboundEntry's answer: writes REPLY or ERROR (calls) or returns the credit (casts). `raw`: the
   * value is a routed REPLY body from the next hop (ok) or an ErrorBody (not ok), passed on as is.
   */
  answer (entry: InboundEntry, ok: boolean, value: unknown, fromHandler: boolean, raw = false): void {
    this.#inFrames--
    this.#inBytes -= entry.size
    if (this.#goAwaySent) queueMicrotask(() => { this.#checkQuiet() })
    if (entry.oneWay) {
      this.#returnCredit(entry.size)
      return
    }
    this.#inbound.delete(entry.id)
    if (this.#closed) return
    if (raw && !ok) {
      this.#writer.error(entry.id, (value as ErrorBody).body)
      this.#scheduleFlush()
      return
    }
    if (ok) {
      try {
        const routed = entry.route.byteLength > 0
        const body = raw
          ? prependHop(this.transport, value as Uint8Array)
          : routed ? routedReply(this.transport, encodePayload(value)) : encodePayload(value)
        this.#writer.reply(entry.id, body)
        this.#scheduleFlush()
        return
      } catch (err) {
        // the result cannot be encoded or is too large: the caller gets that error instead
        countCode(this.#init.counters.servedErrors, (err as MeshError).code)
        value = err
        fromHandler = false
      }
    }
    this.#writeError(entry.id, value, fromHandler)
  }

  #returnCredit (size: number): void {
    this.#creditFrames++
    this.#creditBytes += size
    this.#scheduleFlush()
  }

  #writeError (id: number, err: unknown, fromHandler = false): void {
    if (this.#closed) return
    let body: Uint8Array
    try {
      body = encodePayload(errorToWire(err, this.#init.local, fromHandler))
    } catch {
      // error.data could not be encoded: send the error without it
      const wire = errorToWire(err, this.#init.local, fromHandler)
      delete wire.data
      body = encodePayload(wire)
    }
    this.#writer.error(id, body)
    this.#scheduleFlush()
  }

  #die (reason: Error): void {
    if (this.#closed) return
    this.#closed = true
    this.#writer.clear()
    const unsent = this.#unflushed
    this.#unflushed = []
    for (const call of unsent) if (!call.oneWay) this.#pending.delete(call.id)
    const lost = reason instanceof ConnectionLostError || (reason as MeshError).code === 'MESH_ERR_CLOSED'
      ? reason
      : new ConnectionLostError(`stream to ${this.remote} broke: ${reason.message}`, { node: this.remote, cause: reason })
    if (this.#pending.size > 0) this.#init.counters.streamsLost++
    for (const call of this.#pending.values()) call.reject(lost)
    this.#pending.clear()
    for (const entry of this.#inbound.values()) entry.cancel(lost as MeshError)
    this.#inbound.clear()
    try {
      this.#stream.abort(reason)
    } catch {}
    this.#init.onClose(this, unsent.filter(call => !call.settled))
  }
}

/** A call or cast this node is serving, as handed to the gateway. */
class InboundEntry implements InboundRequest {
  readonly #channel: Channel
  readonly id: number
  readonly size: number
  readonly caller: string
  readonly method: string
  readonly payload: Uint8Array
  readonly route: Uint8Array
  readonly timeout: number
  readonly oneWay: boolean
  readonly transport: TransportName
  onCancel: ((reason: MeshError) => void) | undefined
  #done = false

  constructor (channel: Channel, frame: Frame, oneWay: boolean) {
    this.#channel = channel
    this.id = frame.id
    this.size = frame.size
    this.caller = channel.remote
    this.method = frame.method
    this.payload = frame.payload
    this.route = frame.route
    this.timeout = frame.timeout
    this.oneWay = oneWay
    this.transport = channel.transport
  }

  replyRaw (body: Uint8Array): void {
    if (this.#done) return
    this.#done = true
    this.#channel.answer(this, true, body, false, true)
  }

  failRaw (error: ErrorBody): void {
    if (this.#done) return
    this.#done = true
    this.#channel.answer(this, false, error, false, true)
  }

  reply (value: unknown): void {
    if (this.#done) return
    this.#done = true
    this.#channel.answer(this, true, value, false)
  }

  fail (err: unknown, fromHandler: boolean): void {
    if (this.#done) return
    this.#done = true
    this.#channel.answer(this, false, err, fromHandler)
  }

  cancel (reason: MeshError): void {
    if (this.#done) return
    this.onCancel?.(reason)
    this.fail(reason, false)
  }
}
