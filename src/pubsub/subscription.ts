import { InvalidOptionsError } from '../errors.js'
import { integer } from '../options.js'
import { Deque } from '../util/deque.js'
import type { Pattern } from './topic.js'

/** What a full subscription buffer does with a new message. See docs/pubsub.md. */
export type Overflow = 'drop-oldest' | 'drop-newest' | 'error'

const OVERFLOWS: readonly Overflow[] = ['drop-oldest', 'drop-newest', 'error']
export const DEFAULT_BUFFER = 1024
export const MAX_BUFFER = 1_000_000

/** Options of {@link Mesh.subscribe}. */
export interface SubscribeOptions {
  /** Messages held for the consumer before the overflow policy applies. Default 1024; 1 to 1,000,000. */
  buffer?: number
  /**
   * A full buffer and a new message: `drop-oldest` (default) drops the oldest buffered message,
   * `drop-newest` drops the new one, `error` drops the new one and, when its publisher asked for an
   * acknowledgement, answers it with MESH_ERR_OVERLOADED. Every drop is counted in `dropped` and
   * leaves a gap in `seq`.
   */
  overflow?: Overflow
  /** Aborting it closes the subscription. */
  signal?: AbortSignal
}

/** A message as a subscriber receives it. */
export interface Message<T = unknown> {
  /** The topic it was published to (a subscription with wildcards sees the concrete topic). */
  topic: string
  data: T
  /** The publisher's node id (authenticated, also through gateways). */
  from: string
  /**
   * The message's number in the sequence of this publisher to this subscription: 1, 2, 3, … in
   * publish order. A gap means messages were dropped (counted in `dropped`).
   */
  seq: number
}

/** How a subscription took a message: buffered (or handed over), dropped by `drop-newest`, refused by `error`. */
export const Taken = { ACCEPTED: 0, DROPPED: 1, REFUSED: 2 } as const
export type Taken = typeof Taken[keyof typeof Taken]

export interface SubscriptionSettings {
  buffer: number
  overflow: Overflow
}

export function subscriptionSettings (options: SubscribeOptions = {}): SubscriptionSettings {
  const buffer = integer(options.buffer, 'options.buffer', DEFAULT_BUFFER, 1, MAX_BUFFER)
  const overflow = options.overflow ?? 'drop-oldest'
  if (!OVERFLOWS.includes(overflow)) throw new InvalidOptionsError(`options.overflow must be one of ${OVERFLOWS.join(', ')}`)
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new InvalidOptionsError('options.signal must be an AbortSignal')
  return { buffer, overflow }
}

/**
 * The receiving end of one subscription: a bounded buffer with its overflow policy, and the one
 * consumer waiting on it. Pure: the registry feeds it, the {@link Subscription} handle drains it.
 */
export class Inbox {
  readonly id: number
  readonly pattern: Pattern
  readonly settings: SubscriptionSettings
  dropped = 0
  #closed = false
  readonly #buffer = new Deque<Message>()
  #waiter: ((result: IteratorResult<Message>) => void) | undefined
  readonly #onDrop: (n: number) => void

  constructor (id: number, pattern: Pattern, settings: SubscriptionSettings, onDrop: (n: number) => void) {
    this.id = id
    this.pattern = pattern
    this.settings = settings
    this.#onDrop = onDrop
  }

  get closed (): boolean { return this.#closed }
  get buffered (): number { return this.#buffer.length }

  /** Offers a message: hands it to a waiting consumer, buffers it, or applies the overflow policy. */
  offer (message: Message): Taken {
    if (this.#closed) return Taken.REFUSED
    const waiter = this.#waiter
    if (waiter !== undefined) {
      this.#waiter = undefined
      waiter({ value: message, done: false })
      return Taken.ACCEPTED
    }
    if (this.#buffer.length < this.settings.buffer) {
      this.#buffer.push(message)
      return Taken.ACCEPTED
    }
    this.lost(1)
    if (this.settings.overflow !== 'drop-oldest') return this.settings.overflow === 'error' ? Taken.REFUSED : Taken.DROPPED
    this.#buffer.shift()
    this.#buffer.push(message)
    return Taken.ACCEPTED
  }

  /** Counts messages that will never arrive (a sequence gap, an undecodable message). */
  lost (n: number): void {
    this.dropped += n
    this.#onDrop(n)
  }

  next (): Promise<IteratorResult<Message>> {
    const message = this.#buffer.shift()
    if (message !== undefined) return Promise.resolve({ value: message, done: false })
    if (this.#closed) return Promise.resolve({ value: undefined, done: true })
    if (this.#waiter !== undefined) return Promise.reject(new InvalidOptionsError('a subscription has one consumer: next() was called again before the previous call resolved'))
    return new Promise(resolve => { this.#waiter = resolve })
  }

  /** Ends the subscription: the consumer's loop ends; buffered messages are discarded. */
  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#buffer.drain()
    const waiter = this.#waiter
    this.#waiter = undefined
    waiter?.({ value: undefined, done: true })
  }
}

/**
 * A subscription: an async iterable of {@link Message}s matching its pattern. Breaking out of the
 * loop, `close()`, `await using` and the `signal` option all end it and unsubscribe. Only one loop
 * may consume it.
 *
 * @example
 * ```ts
 * await using sub = mesh.subscribe('sensors/**', { buffer: 1024, overflow: 'drop-oldest' })
 * await sub.ready
 * for await (const { topic, data, from, seq } of sub) { ... }
 * ```
 */
export class Subscription<T = unknown> implements AsyncIterable<Message<T>>, AsyncDisposable {
  readonly pattern: string
  /**
   * Resolves once the subscription is announced: publishers already active on its topics have been
   * told, and publishers that start later will find it. It never rejects (a failed announcement is
   * retried by the periodic refresh). See docs/pubsub.md for the bound.
   */
  readonly ready: Promise<void>
  readonly #inbox: Inbox
  readonly #unsubscribe: () => Promise<void>
  #closing: Promise<void> | undefined
  #iterating = false

  /** @internal */
  constructor (inbox: Inbox, ready: Promise<void>, unsubscribe: () => Promise<void>) {
    this.pattern = inbox.pattern.source
    this.#inbox = inbox
    this.ready = ready
    this.#unsubscribe = unsubscribe
  }

  /** Messages this subscription lost: dropped by its overflow policy, missing from a sequence, or undecodable. */
  get dropped (): number { return this.#inbox.dropped }
  /** Messages waiting for the consumer. */
  get buffered (): number { return this.#inbox.buffered }
  get closed (): boolean { return this.#inbox.closed }

  /** Ends the subscription and tells the publishers it knows; resolves once they have been told (bounded). Idempotent. */
  async close (): Promise<void> {
    this.#inbox.close()
    this.#closing ??= this.#unsubscribe()
    return this.#closing
  }

  async [Symbol.asyncDispose] (): Promise<void> {
    await this.close()
  }

  [Symbol.asyncIterator] (): AsyncIterator<Message<T>> {
    if (this.#iterating) throw new InvalidOptionsError('a subscription can be iterated only once')
    this.#iterating = true
    return {
      next: () => this.#inbox.next() as Promise<IteratorResult<Message<T>>>,
      return: async () => {
        await this.close()
        return { value: undefined, done: true }
      }
    }
  }
}
