import { BadRequestError, errorFromWire, type MeshError, OverloadedError } from '../errors.js'
import type { PubsubCounters } from '../stats.js'
import { Deque } from '../util/deque.js'
import { BATCH_HEADER, type BatchEntry, encodeBatch, entrySize, MAX_ENTRY_SUBS } from './batch.js'

/** Told how one message fared at one node (for publishes that asked for acknowledgements). */
export type AckCallback = (node: string, error?: MeshError) => void

export interface OutboxInit {
  /** A new session epoch (see batch.ts): each node's sequences start afresh after it was forgotten. */
  epoch: () => number
  counters: PubsubCounters
  /**
   * Sends a batch to `node` as a call; it resolves once the node has taken the batch, to the
   * acknowledgement failures when a message in it asked for acknowledgements.
   */
  send: (node: string, batch: Uint8Array) => Promise<unknown>
  /** A batch to `node` could not be delivered: its route failed. */
  onFailed: (node: string, err: unknown) => void
  /** A batch is sent as soon as it reaches this many bytes (one larger message still goes alone). */
  maxBatchBytes: number
  /** Messages, and bytes, of batches sent to one node and not yet taken; more wait (one batch always goes). */
  maxInflight: { messages: number, bytes: number }
  /** Bytes of batches to one node that may wait; a batch beyond it is dropped, counted. */
  maxPendingBytes: number
}

class NodeBatch {
  readonly topicIndex = new Map<string, number>()
  readonly topicBytes: Uint8Array[] = []
  readonly entries: BatchEntry[] = []
  /** Per entry: who waits for its acknowledgement. */
  readonly acks: Array<AckCallback | undefined> = []
  size = BATCH_HEADER
  ack = false
}

interface NodeOutbox {
  readonly node: string
  readonly epoch: number
  /** The batch being filled this tick. */
  batch: NodeBatch
  /** Messages and bytes of the batches sent and not yet taken by the node. */
  inflightMessages: number
  inflightBytes: number
  /** Encoded batches waiting for the window, and their bytes. */
  readonly waiting: Deque<{ batch: NodeBatch, bytes: Uint8Array }>
  pending: number
}

const utf8 = new TextEncoder()

/**
 * Batches a publisher's messages per subscriber node: everything published to one node within one
 * tick (up to `maxBatchBytes`) travels as one DELIVER batch, so a burst of publishes costs one frame
 * per node instead of one per message.
 *
 * At most `maxInflight` messages (and bytes) per node are on their way, in batches sent as calls
 * (the answer says the node has taken the batch). This bounds how far the stream pool can reorder
 * them (it spreads frames over up to four streams; unbounded, a subscriber saw more than 4,096
 * messages overtake a gap within 12 ms), and so the subscriber's reorder window (registry.ts) must
 * be larger. Batches beyond it wait, at most
 * `maxPendingBytes` per node: a stalled or slow node loses messages (counted, and a gap in its
 * `seq`) instead of slowing the publisher or the other nodes.
 */
export class Outbox {
  readonly #init: OutboxInit
  readonly #nodes = new Map<string, NodeOutbox>()
  #dirty: NodeOutbox[] = []
  #tick: { promise: Promise<void>, resolve: () => void } | undefined
  #lastTopic = ''
  #lastTopicBytes = new Uint8Array(0)

  constructor (init: OutboxInit) {
    this.#init = init
  }

  /** Adds a message for `node`'s subscriptions (`subs`: id, seq pairs). */
  add (node: string, topic: string, subs: number[], data: Uint8Array, ack?: AckCallback): void {
    let box = this.#nodes.get(node)
    if (box === undefined) this.#nodes.set(node, box = { node, epoch: this.#init.epoch(), batch: new NodeBatch(), inflightMessages: 0, inflightBytes: 0, waiting: new Deque(), pending: 0 })
    for (let i = 0; i < subs.length; i += 2 * MAX_ENTRY_SUBS) {
      this.#addEntry(box, topic, subs.length <= 2 * MAX_ENTRY_SUBS ? subs : subs.slice(i, i + 2 * MAX_ENTRY_SUBS), data, ack)
    }
  }

  /** Resolves when the batches of the current tick have been handed on. */
  flushed (): Promise<void> {
    return this.#tick?.promise ?? Promise.resolve()
  }

  /** Forgets `node`: its next message starts a new session (epoch). */
  forget (node: string): void {
    this.#nodes.delete(node)
  }

  #addEntry (box: NodeOutbox, topic: string, subs: number[], data: Uint8Array, ack: AckCallback | undefined): void {
    let batch = box.batch
    let topicIndex = batch.topicIndex.get(topic)
    const topicBytes = topicIndex === undefined ? this.#topicBytes(topic) : undefined
    const cost = entrySize(subs.length / 2, data.byteLength) + (topicBytes === undefined ? 0 : 2 + topicBytes.byteLength)
    if (batch.entries.length > 0 && batch.size + cost > this.#init.maxBatchBytes) {
      this.#dispatch(box)
      batch = box.batch
      topicIndex = undefined
    }
    if (batch.entries.length === 0) this.#dirty.push(box)
    if (topicIndex === undefined) {
      topicIndex = batch.topicBytes.length
      batch.topicIndex.set(topic, topicIndex)
      batch.topicBytes.push(topicBytes ?? this.#topicBytes(topic))
      batch.size += 2 + batch.topicBytes[topicIndex].byteLength
    }
    batch.entries.push({ topic: topicIndex, ack: ack !== undefined, subs, data })
    batch.acks.push(ack)
    batch.size += entrySize(subs.length / 2, data.byteLength)
    if (ack !== undefined) batch.ack = true
    if (this.#tick === undefined) {
      let resolve!: () => void
      const promise = new Promise<void>(r => { resolve = r })
      this.#tick = { promise, resolve }
      queueMicrotask(this.#flush)
    }
  }

  /** A topic's UTF-8, remembered for the last topic (most batches carry the topic of the one before). */
  #topicBytes (topic: string): Uint8Array {
    if (topic !== this.#lastTopic) {
      this.#lastTopic = topic
      this.#lastTopicBytes = utf8.encode(topic)
    }
    return this.#lastTopicBytes
  }

  #flush = (): void => {
    const dirty = this.#dirty
    const tick = this.#tick
    this.#dirty = []
    this.#tick = undefined
    for (const box of dirty) if (box.batch.entries.length > 0) this.#dispatch(box)
    tick?.resolve()
  }

  /** Encodes the node's current batch and sends it, or queues it behind the window, or drops it. */
  #dispatch (box: NodeOutbox): void {
    const batch = box.batch
    box.batch = new NodeBatch()
    const fits = this.#fits(box, batch)
    if (!fits && box.pending + batch.size > this.#init.maxPendingBytes) {
      this.#init.counters.sendDropped += batch.entries.length
      answerAll(batch, box.node, new OverloadedError(`more than ${this.#init.maxPendingBytes} bytes of messages wait to be sent to ${box.node}`, { node: box.node }))
      return
    }
    const bytes = encodeBatch(box.epoch, batch.topicBytes, batch.entries, batch.size)
    if (fits) {
      this.#send(box, batch, bytes)
      return
    }
    box.waiting.push({ batch, bytes })
    box.pending += bytes.byteLength
  }

  /** True when `batch` may go now: nothing waits before it and it fits the window (or nothing is in flight). */
  #fits (box: NodeOutbox, batch: NodeBatch): boolean {
    if (box.inflightMessages === 0) return true
    const max = this.#init.maxInflight
    return box.waiting.length === 0 && box.inflightMessages + batch.entries.length <= max.messages && box.inflightBytes + batch.size <= max.bytes
  }

  #send (box: NodeOutbox, batch: NodeBatch, bytes: Uint8Array): void {
    const counters = this.#init.counters
    box.inflightMessages += batch.entries.length
    box.inflightBytes += batch.size
    counters.batches++
    this.#init.send(box.node, bytes).then((reply) => {
      if (batch.ack && !answerAcks(batch, box.node, reply)) counters.badInput++
      this.#next(box, batch)
    }, (err: unknown) => {
      counters.sendDropped += batch.entries.length
      answerAll(batch, box.node, err as MeshError)
      this.#next(box, batch)
      this.#init.onFailed(box.node, err)
    })
  }

  /** A batch was answered: the waiting ones that now fit go. */
  #next (box: NodeOutbox, answered: NodeBatch): void {
    box.inflightMessages -= answered.entries.length
    box.inflightBytes -= answered.size
    for (let next = box.waiting.peek(); next !== undefined; next = box.waiting.peek()) {
      const max = this.#init.maxInflight
      if (box.inflightMessages > 0 && (box.inflightMessages + next.batch.entries.length > max.messages || box.inflightBytes + next.batch.size > max.bytes)) return
      box.waiting.shift()
      box.pending -= next.bytes.byteLength
      this.#send(box, next.batch, next.bytes)
    }
  }
}

function answerAll (batch: NodeBatch, node: string, error: MeshError): void {
  for (const ack of batch.acks) ack?.(node, error)
}

/**
 * Answers each acknowledgement from the subscriber's reply: a list of (entry index, error code)
 * failures. False when the reply is malformed (every acknowledgement then fails).
 */
function answerAcks (batch: NodeBatch, node: string, reply: unknown): boolean {
  if (!Array.isArray(reply) || !reply.every(f => Array.isArray(f) && Number.isInteger(f[0]) && typeof f[1] === 'string')) {
    answerAll(batch, node, new BadRequestError(`${node} answered the acknowledgements with something else`, { node }))
    return false
  }
  const failed = new Map<number, string>(reply as Array<[number, string]>)
  batch.acks.forEach((ack, i) => {
    const code = failed.get(i)
    ack?.(node, code === undefined ? undefined : ackError(code, node))
  })
  return true
}

/** The error an acknowledgement failure with `code` from `node` becomes. */
export function ackError (code: string, node: string): MeshError {
  const message = code === 'MESH_ERR_OVERLOADED' ? `a subscription on ${node} is full` : `${node} did not deliver the message (${code})`
  return errorFromWire({ code, message, node, handler: false })
}
