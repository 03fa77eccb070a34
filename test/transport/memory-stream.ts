/**
 * The in-memory transport for tests: a pair of FrameStreams that hand each other copies of what
 * they send on the next microtask, in order, like a perfect network. `abort` ends both ends (the
 * far end sees `remoteCloseWrite`, as a QUIC peer sees a reset).
 */
import { FrameStreamBase } from '../../src/transport/frame-stream-base.js'

export class MemoryStream extends FrameStreamBase {
  peer: MemoryStream | undefined
  #closed = false

  get closed (): boolean { return this.#closed }

  send (data: Uint8Array): boolean {
    if (this.#closed) throw new Error('the memory stream is closed')
    const copy = data.slice()
    const peer = this.peer
    queueMicrotask(() => { if (peer !== undefined && !peer.#closed) peer.emitMessage(copy) })
    return true
  }

  abort (err: Error): void {
    if (this.#closed) return
    this.#closed = true
    this.emitClose(err)
    const peer = this.peer
    queueMicrotask(() => { if (peer !== undefined && !peer.#closed) peer.emitRemoteClose() })
  }
}

export function memoryPair (): [MemoryStream, MemoryStream] {
  const a = new MemoryStream()
  const b = new MemoryStream()
  a.peer = b
  b.peer = a
  return [a, b]
}
