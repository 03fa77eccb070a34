/**
 * Frame layout (version 1). Every integer is big-endian. See docs/wire.md.
 *
 * ```
 * offset size
 * 0      4    length of the rest of the frame (HEADER_SIZE..maxFrameSize)
 * 4      1    version (1)            ┐
 * 5      1    type (FrameType)       │ the header: the same layout in every version,
 * 6      2    flags (0 in version 1) │ so a peer can answer an unknown version by id
 * 8      4    id                     ┘
 * 12     …    body, by type:
 *   CALL    u32 timeout ms remaining (≥ 1), u8 method length, method (UTF-8), msgpack args
 *   CAST    u8 method length, method, msgpack args
 *   REPLY   msgpack value
 *   ERROR   msgpack { code, message, node, handler, data? }
 *   CANCEL  (empty)
 *   CREDIT  u32 frames, u32 bytes returned to the sender's window (id is 0)
 *   ROUTE   u32 timeout, u16 route header length, route header (src/routing/route-header.ts),
 *           u8 method length, method, msgpack args: a call travelling through gateways; its
 *           REPLY body is u8 n, n transport codes (one per hop), msgpack value
 *   GOAWAY  (empty; id is 0): the sender starts no new calls or casts on this stream and asks the
 *           receiver to do the same (answering with its own GOAWAY); what is in flight finishes
 * ```
 */

export const WIRE_VERSION = 1
/** Bytes of the length prefix. */
export const LENGTH_SIZE = 4
/** Bytes after the length prefix that every frame has: version, type, flags, id. */
export const HEADER_SIZE = 8
/** Default maximum frame size, length prefix excluded (`maxFrameSize` may set 1 KiB to 16 MiB; both ends should agree). */
export const DEFAULT_MAX_FRAME_SIZE = 4 * 1024 * 1024
export const MAX_METHOD_BYTES = 255

/**
 * Flow control: a sender may have at most this many CALL/CAST frames outstanding on one stream
 * (a call is outstanding until its REPLY/ERROR arrives, a cast until a CREDIT returns it)…
 */
export const STREAM_WINDOW_FRAMES = 256
/** …and at most this many bytes of them, except that one frame is always allowed. */
export const STREAM_WINDOW_BYTES = 4 * 1024 * 1024

export const FrameType = {
  CALL: 1,
  CAST: 2,
  REPLY: 3,
  ERROR: 4,
  CANCEL: 5,
  CREDIT: 6,
  ROUTE: 7,
  GOAWAY: 8
} as const
export type FrameType = typeof FrameType[keyof typeof FrameType]

/** A parsed frame. One shape for every type (fields a type does not use are 0 or empty). */
export interface Frame {
  type: FrameType
  id: number
  /** CALL: milliseconds the caller still waits for the result. */
  timeout: number
  /** CALL, CAST, ROUTE: the method name. */
  method: string
  /** ROUTE: the route header, not yet parsed. */
  route: Uint8Array
  /** CALL, CAST, ROUTE, REPLY, ERROR: the msgpack body, not yet decoded. */
  payload: Uint8Array
  /** CREDIT: frames returned. */
  frames: number
  /** CREDIT: bytes returned. */
  bytes: number
  /** Size of the whole frame on the wire, length prefix included (what flow control counts). */
  size: number
}
