import { Packr } from 'msgpackr'
import { BadRequestError } from '../errors.js'

/**
 * msgpack with records so that plain objects and `Map`s stay distinct (msgpackr writes a `Map` as a
 * msgpack map and, without records, reads every string-keyed map back as an object). Record
 * definitions travel inline, so every payload decodes on its own: a forwarder can pass payload
 * bytes along untouched. `bigint` travels as int64 (or msgpackr's big-int extension beyond 64 bits)
 * and comes back as `bigint`; `Date`, `Uint8Array`, `undefined` in objects and arrays round-trip.
 */
const packr = new Packr({ useRecords: true, mapsAsObjects: false, int64AsType: 'bigint', moreTypes: true })

/** Encodes a value; anything msgpack cannot carry is a BadRequestError. */
export function encodePayload (value: unknown): Uint8Array {
  try {
    return packr.pack(value)
  } catch (err) {
    throw new BadRequestError(`value cannot be encoded: ${(err as Error).message}`, { cause: err })
  }
}

/** Decodes a payload; malformed bytes are a BadRequestError. */
export function decodePayload (bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes)
  } catch (err) {
    throw new BadRequestError(`payload cannot be decoded: ${(err as Error).message}`, { cause: err })
  }
}
