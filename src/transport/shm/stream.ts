/**
 * A {@link FrameStream} over a shared-memory ring pair: the same-host fast path. The Channel's
 * batched writes become ring records (cut to the ring's largest record; bytes that do not fit wait
 * for `onWritable`), records read become `message` events. Both rings are reliable and ordered, so
 * nothing here retransmits.
 *
 * Identity: the pair's name and two tokens are agreed over the authenticated QUIC connection.
 * Each side's first record must be the token the other side chose, so a process that found or
 * raced for the files (same uid) cannot speak for the peer; a pair whose first record is anything
 * else is closed and counted. The peer process is watched (`isPeerAlive`) while the stream is open,
 * so a crashed peer ends the stream instead of leaving calls waiting.
 */
import { ConnectionLostError, ForbiddenError, RingCorruptError } from '../../errors.js'
import { FrameStreamBase } from '../frame-stream-base.js'
import type { NativeBinding } from '../native/binding.js'
import { ShmRingPair, type ShmRingPairInit, type ShmRingPairStats } from '../native/shm.js'

/** ms between checks that the peer process still exists. */
export const LIVENESS_INTERVAL = 250

export interface ShmStreamInit {
  /** Pair name (random, unique per pair). */
  name: string
  /** Data bytes per ring (creator only). */
  capacity?: number
  idleSpinUs?: number
  /** The token the peer must write as its first record. */
  expect: Uint8Array
  /**
   * Counts hostile input: `shm-auth`, a first record that is not the agreed token; `shm-corrupt`,
   * a ring header or record that failed validation.
   */
  onDrop: (reason: 'shm-auth' | 'shm-corrupt') => void
}

type Opened = Pick<ShmRingPairInit, 'onRecord' | 'onWritable' | 'onPeerClose' | 'onError'>

export class ShmStream extends FrameStreamBase {
  readonly #pair: ShmRingPair
  readonly #init: ShmStreamInit
  readonly #pending: Uint8Array[] = []
  #proven = false
  #closed = false
  #peerExited = false
  readonly #liveness: ReturnType<typeof setInterval>

  /** Creates the files (side 0); the peer opens them after hearing the name over QUIC. */
  static create (binding: NativeBinding, init: ShmStreamInit): ShmStream {
    return new ShmStream(init, (callbacks) => ShmRingPair.create(binding, { name: init.name, capacity: init.capacity, idleSpinUs: init.idleSpinUs, ...callbacks }))
  }

  /** Opens the files the peer created (side 1; they are unlinked at once). */
  static open (binding: NativeBinding, init: ShmStreamInit): ShmStream {
    return new ShmStream(init, (callbacks) => ShmRingPair.open(binding, { name: init.name, idleSpinUs: init.idleSpinUs, ...callbacks }))
  }

  private constructor (init: ShmStreamInit, open: (callbacks: Opened) => ShmRingPair) {
    super()
    this.#init = init
    this.#pair = open({
      onRecord: this.#onRecord,
      onWritable: this.#onWritable,
      onPeerClose: () => { this.#end(new ConnectionLostError('the peer closed the shared-memory rings')) },
      onError: (err) => {
        if (err instanceof RingCorruptError) this.#init.onDrop('shm-corrupt')
        this.#end(new ConnectionLostError(`shared-memory rings failed: ${err.message}`, { cause: err }))
      }
    })
    this.#liveness = setInterval(() => {
      if (this.#pair.isPeerAlive()) return
      this.#peerExited = true
      this.#end(new ConnectionLostError(`the peer process ${this.#pair.peerPid} is gone`))
    }, LIVENESS_INTERVAL)
    this.#liveness.unref()
  }

  get peerPid (): number { return this.#pair.peerPid }
  /** True once the stream ended because the peer process no longer exists. */
  get peerExited (): boolean { return this.#peerExited }
  /** The ring file (unlinked once both sides have it open). */
  get path (): string { return this.#pair.paths.region }
  /** True once the peer's first record proved it is the node the handshake was with. */
  get proven (): boolean { return this.#proven && !this.#closed }

  stats (): ShmRingPairStats {
    return this.#pair.stats()
  }

  /** Writes the token the peer expects; must be the first thing written. */
  prove (token: Uint8Array): void {
    this.send(token)
  }

  send (data: Uint8Array): boolean {
    if (this.#closed) throw new ConnectionLostError('the shared-memory rings are closed')
    if (this.#pending.length > 0) {
      this.#pending.push(data)
      return true
    }
    this.#write(data)
    return true
  }

  abort (err: Error): void {
    this.#end(err)
  }

  /** Writes `data` in records; what does not fit waits for `onWritable`. */
  #write (data: Uint8Array): boolean {
    const max = this.#pair.maxRecordSize
    for (let at = 0; at < data.byteLength; at += max) {
      const record = at === 0 && data.byteLength <= max ? data : data.subarray(at, at + max)
      if (!this.#pair.write(record)) {
        this.#pending.unshift(data.subarray(at))
        return false
      }
    }
    return true
  }

  #onWritable = (): void => {
    while (this.#pending.length > 0 && !this.#closed) {
      if (!this.#write(this.#pending.shift()!)) return
    }
  }

  #onRecord = (record: Uint8Array): void => {
    if (this.#closed) return
    if (!this.#proven) {
      if (!equal(record, this.#init.expect)) {
        this.#init.onDrop('shm-auth')
        this.#end(new ForbiddenError('the shared-memory peer did not prove it is the node it claims to be'))
        return
      }
      this.#proven = true
      return
    }
    // the record is a view into shared memory, valid during this call only
    this.emitMessage(record.slice())
  }

  #end (err: Error): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#liveness)
    this.#pending.length = 0
    this.#pair.close()
    this.emitClose(err)
  }
}

function equal (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  let diff = 0
  for (let i = 0; i < a.byteLength; i++) diff |= a[i] ^ b[i]
  return diff === 0
}
