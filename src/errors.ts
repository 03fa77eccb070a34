/**
 * Every error kadmesh raises. Each class has a literal `name` and a stable `code`; codes cross
 * the wire, classes do not (the receiving side rebuilds them with {@link errorFromWire}).
 *
 * @packageDocumentation
 */

/** Stable error codes. They never change meaning; new ones may be added. */
export const ErrorCode = {
  /** The call's deadline passed (locally, or at the remote before the handler finished). */
  TIMEOUT: 'MESH_ERR_TIMEOUT',
  /** The caller aborted the call through its `signal`. */
  ABORTED: 'MESH_ERR_ABORTED',
  /** The mesh (or the remote node) is stopping or stopped. */
  CLOSED: 'MESH_ERR_CLOSED',
  /** The stream or connection carrying the call died after the call was written. Retryable. */
  CONNECTION_LOST: 'MESH_ERR_CONNECTION_LOST',
  /** No route to the destination: unknown node, dial failed, no address. */
  UNREACHABLE: 'MESH_ERR_UNREACHABLE',
  /** The destination has no actor method of that name. */
  NO_SUCH_METHOD: 'MESH_ERR_NO_SUCH_METHOD',
  /** A bounded queue is full (actor mailbox, per-peer send queue). Retryable after backing off. */
  OVERLOADED: 'MESH_ERR_OVERLOADED',
  /** The request is malformed: bad frame, bad method name, arguments that cannot be encoded or decoded. */
  BAD_REQUEST: 'MESH_ERR_BAD_REQUEST',
  /** A frame would exceed the maximum frame size. */
  TOO_LARGE: 'MESH_ERR_TOO_LARGE',
  /** The caller is not allowed to do this. */
  FORBIDDEN: 'MESH_ERR_FORBIDDEN',
  /** A call through gateways would take more hops than its budget. */
  HOP_LIMIT: 'MESH_ERR_HOP_LIMIT',
  /** A call through gateways would visit a node twice. */
  LOOP: 'MESH_ERR_LOOP',
  /** A remote handler threw an error that had no code of its own. */
  REMOTE: 'MESH_ERR_REMOTE',
  /** The mesh was given options it cannot use. */
  INVALID_OPTIONS: 'MESH_ERR_INVALID_OPTIONS',
  /**
   * A shared-memory ring failed validation (corrupt or hostile peer). The fast path to that peer
   * closes and its calls move to QUIC; callers see it only as the `cause` of CONNECTION_LOST.
   */
  RING_CORRUPT: 'MESH_ERR_RING_CORRUPT',
  /** The `kadmesh` command line was given arguments it cannot parse (exit status 2). */
  USAGE: 'MESH_ERR_USAGE'
} as const

export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode]

export interface MeshErrorOptions extends ErrorOptions {
  /** The node that raised the error, when it was not this one. */
  node?: string
}

/** Base class of every kadmesh error. */
export class MeshError extends Error {
  override name: string = 'MeshError'
  /** Stable, machine-readable code. */
  readonly code: string
  /** The node that raised the error (this node when undefined). */
  readonly node?: string
  /** True when the same call may succeed if sent again (it was not executed, or may safely be retried). */
  readonly retryable: boolean = false

  constructor (code: string, message: string, options: MeshErrorOptions = {}) {
    super(message, options)
    this.code = code
    if (options.node !== undefined) this.node = options.node
  }
}

export class TimeoutError extends MeshError {
  override name = 'TimeoutError'
  constructor (message = 'the call timed out', options?: MeshErrorOptions) { super(ErrorCode.TIMEOUT, message, options) }
}

export class AbortedError extends MeshError {
  override name = 'AbortedError'
  constructor (message = 'the call was aborted', options?: MeshErrorOptions) { super(ErrorCode.ABORTED, message, options) }
}

export class ClosedError extends MeshError {
  override name = 'ClosedError'
  constructor (message = 'the mesh is closed', options?: MeshErrorOptions) { super(ErrorCode.CLOSED, message, options) }
}

export class ConnectionLostError extends MeshError {
  override name = 'ConnectionLostError'
  override readonly retryable = true
  constructor (message = 'the connection carrying the call was lost', options?: MeshErrorOptions) { super(ErrorCode.CONNECTION_LOST, message, options) }
}

export class UnreachableError extends MeshError {
  override name = 'UnreachableError'
  override readonly retryable = true
  constructor (message = 'the destination is unreachable', options?: MeshErrorOptions) { super(ErrorCode.UNREACHABLE, message, options) }
}

export class HopLimitError extends MeshError {
  override name = 'HopLimitError'
  constructor (message = 'hop budget exhausted', options?: MeshErrorOptions) { super(ErrorCode.HOP_LIMIT, message, options) }
}

export class LoopError extends MeshError {
  override name = 'LoopError'
  constructor (message = 'routing loop', options?: MeshErrorOptions) { super(ErrorCode.LOOP, message, options) }
}

export class NoSuchMethodError extends MeshError {
  override name = 'NoSuchMethodError'
  constructor (message = 'no such method', options?: MeshErrorOptions) { super(ErrorCode.NO_SUCH_METHOD, message, options) }
}

export class OverloadedError extends MeshError {
  override name = 'OverloadedError'
  override readonly retryable = true
  constructor (message = 'overloaded', options?: MeshErrorOptions) { super(ErrorCode.OVERLOADED, message, options) }
}

export class BadRequestError extends MeshError {
  override name = 'BadRequestError'
  constructor (message = 'bad request', options?: MeshErrorOptions) { super(ErrorCode.BAD_REQUEST, message, options) }
}

export class TooLargeError extends MeshError {
  override name = 'TooLargeError'
  constructor (message = 'frame too large', options?: MeshErrorOptions) { super(ErrorCode.TOO_LARGE, message, options) }
}

export class ForbiddenError extends MeshError {
  override name = 'ForbiddenError'
  constructor (message = 'forbidden', options?: MeshErrorOptions) { super(ErrorCode.FORBIDDEN, message, options) }
}

export class InvalidOptionsError extends MeshError {
  override name = 'InvalidOptionsError'
  constructor (message: string) { super(ErrorCode.INVALID_OPTIONS, message) }
}

/** The `kadmesh` command line got a command, option or argument it cannot use; the CLI exits with status 2. */
export class UsageError extends MeshError {
  override name = 'UsageError'
  constructor (message: string) { super(ErrorCode.USAGE, message) }
}

/** The field of a shared-memory ring or region that failed validation. */
export type RingField = 'magic' | 'version' | 'capacity' | 'state' | 'size' | 'head' | 'tail' | 'record' | 'flag'

/**
 * A shared-memory ring (or the region holding it) failed validation: a header field, an index or a
 * record length is impossible. The ring is marked corrupt and every later operation throws this
 * again; the link is closed and its calls move to QUIC. Never retryable on the same ring, and never
 * sent over the wire.
 */
export class RingCorruptError extends MeshError {
  override name = 'RingCorruptError'
  /** What failed validation. */
  readonly field: RingField
  constructor (field: RingField, message: string, options?: MeshErrorOptions) {
    super(ErrorCode.RING_CORRUPT, `shared-memory ring corrupt (${field}): ${message}`, options)
    this.field = field
  }
}

/**
 * An error thrown by a remote handler. `code` is the handler error's own string `code` when it had
 * one, otherwise `MESH_ERR_REMOTE`; `node` is the node whose handler threw.
 */
export class RemoteError extends MeshError {
  override name = 'RemoteError'
  /** Optional structured data the handler attached as `error.data`. */
  readonly data?: unknown
  constructor (code: string, message: string, options: MeshErrorOptions & { data?: unknown } = {}) {
    super(code, message, options)
    if (options.data !== undefined) this.data = options.data
  }
}

/** The shape of an error on the wire (ERROR frame body). */
export interface WireError {
  code: string
  message: string
  node: string
  /** True when a user handler threw it (rebuilt as {@link RemoteError}). */
  handler: boolean
  data?: unknown
}

type MeshErrorClass = new (message?: string, options?: MeshErrorOptions) => MeshError

const MESH_ERROR_CLASSES: Record<string, MeshErrorClass> = {
  [ErrorCode.TIMEOUT]: TimeoutError,
  [ErrorCode.ABORTED]: AbortedError,
  [ErrorCode.CLOSED]: ClosedError,
  [ErrorCode.CONNECTION_LOST]: ConnectionLostError,
  [ErrorCode.UNREACHABLE]: UnreachableError,
  [ErrorCode.HOP_LIMIT]: HopLimitError,
  [ErrorCode.LOOP]: LoopError,
  [ErrorCode.NO_SUCH_METHOD]: NoSuchMethodError,
  [ErrorCode.OVERLOADED]: OverloadedError,
  [ErrorCode.BAD_REQUEST]: BadRequestError,
  [ErrorCode.TOO_LARGE]: TooLargeError,
  [ErrorCode.FORBIDDEN]: ForbiddenError
}

/** Turns anything a handler threw (or the mesh raised while serving a call) into its wire shape. */
export function errorToWire (err: unknown, node: string, handler: boolean): WireError {
  if (err instanceof MeshError && !handler) {
    return { code: err.code, message: err.message, node: err.node ?? node, handler: false }
  }
  const e = err as { code?: unknown, message?: unknown, data?: unknown } | null | undefined
  const code = typeof e?.code === 'string' && e.code.length > 0 ? e.code : ErrorCode.REMOTE
  const message = typeof e?.message === 'string' ? e.message : String(err)
  const out: WireError = { code, message, node, handler: true }
  if (e?.data !== undefined) out.data = e.data
  return out
}

/** Rebuilds the error a caller sees from its wire shape. */
export function errorFromWire (wire: WireError): MeshError {
  if (!wire.handler) {
    const Class = MESH_ERROR_CLASSES[wire.code]
    if (Class !== undefined) return new Class(wire.message, { node: wire.node })
  }
  return new RemoteError(wire.code, wire.message, { node: wire.node, data: wire.data })
}
