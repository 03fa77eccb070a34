import { BadRequestError, errorFromWire, type MeshError, type WireError } from '../errors.js'
import type { TransportName } from '../transport/interfaces.js'
import { decodePayload } from './payload.js'

/** Transport codes in routed replies (one byte per hop). */
const TRANSPORT_CODES: Record<TransportName, number> = { quic: 1, udp: 2, shm: 3, local: 4 }
const TRANSPORT_NAMES: TransportName[] = ['quic', 'quic', 'udp', 'shm', 'local']

/**
 * The body of a routed call's REPLY: `u8 n, n transport codes, msgpack value`. The destination
 * writes one code (the hop that reached it); each forwarder on the way back puts the code of the
 * hop that reached it in front, so the origin gets one code per hop, in path order.
 */
export function routedReply (transport: TransportName, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + payload.byteLength)
  out[0] = 1
  out[1] = TRANSPORT_CODES[transport]
  out.set(payload, 2)
  return out
}

/** A forwarder's copy of the next hop's routed reply with its own hop's code in front. */
export function prependHop (transport: TransportName, body: Uint8Array): Uint8Array {
  if (body.byteLength < 1 || body[0] === 255 || body.byteLength < 1 + body[0]) throw new BadRequestError('malformed routed reply')
  const out = new Uint8Array(body.byteLength + 1)
  out[0] = body[0] + 1
  out[1] = TRANSPORT_CODES[transport]
  out.set(body.subarray(1), 2)
  return out
}

export function parseRoutedReply (body: Uint8Array): { transports: TransportName[], value: unknown } {
  const n = body[0]
  if (n === undefined || body.byteLength < 1 + n) throw new BadRequestError('malformed routed reply')
  const transports = [...body.subarray(1, 1 + n)].map(code => TRANSPORT_NAMES[code] ?? 'quic')
  return { transports, value: decodePayload(body.subarray(1 + n)) }
}

/** Rebuilds the error an ERROR body describes; `node` is named when the body does not say. */
export function errorFromBody (body: Uint8Array, node: string): MeshError {
  const v = decodePayload(body) as Partial<WireError> | null
  if (typeof v?.code !== 'string' || typeof v.message !== 'string') {
    throw new BadRequestError(`malformed ERROR frame from ${node}`, { node })
  }
  return errorFromWire({ code: v.code, message: v.message, node: typeof v.node === 'string' ? v.node : node, handler: v.handler === true, data: v.data })
}

/**
 * An ERROR body as it arrived, kept verbatim so a forwarder can pass it back unchanged (the error
 * names the node that raised it, not the forwarder).
 */
export class ErrorBody extends Error {
  readonly body: Uint8Array
  readonly from: string
  constructor (body: Uint8Array, from: string) {
    super('error body')
    this.body = body
    this.from = from
  }
}
