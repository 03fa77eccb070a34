/**
 * How the CLI writes values that msgpack carries but JSON does not, and reads them back from JSON
 * arguments. A value JSON cannot hold becomes an object with one `$tag` key; `kadmesh call` prints
 * results this way and reads its arguments the same way, so a printed value can be passed back:
 *
 * | value                     | JSON                                  |
 * | ------------------------- | ------------------------------------- |
 * | bigint                    | `{"$bigint":"123"}`                   |
 * | Uint8Array (and Buffer)   | `{"$bytes":"<base64>"}`               |
 * | Date                      | `{"$date":"<ISO 8601>"}` (`null` if invalid) |
 * | Map                       | `{"$map":[[key, value], …]}`          |
 * | Set                       | `{"$set":[…]}`                        |
 * | NaN, Infinity, -Infinity  | `{"$number":"NaN"}` …                 |
 * | an object that looks like a tag | `{"$object":{…}}`               |
 *
 * Other typed arrays print as arrays of numbers; `undefined` prints as JSON does (left out of
 * objects, `null` in arrays and alone).
 */
import { UsageError } from '../errors.js'

const TAGS = new Set(['$bigint', '$bytes', '$date', '$map', '$set', '$number', '$object'])
const NON_FINITE: Record<string, number> = { NaN, Infinity, '-Infinity': -Infinity }
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** A value JSON can hold. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

/** Turns a value into one JSON can hold, tagging what JSON cannot (see the table above). */
export function toJson (value: unknown): Json {
  switch (typeof value) {
    case 'string': case 'boolean': return value
    case 'number': return Number.isFinite(value) ? value : { $number: String(value) }
    case 'bigint': return { $bigint: value.toString() }
    case 'undefined': case 'function': case 'symbol': return null
  }
  if (value === null) return null
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') }
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<unknown>, toJson)
  if (Array.isArray(value)) return value.map(toJson)
  if (value instanceof Date) return { $date: Number.isNaN(value.getTime()) ? null : value.toISOString() }
  if (value instanceof Map) return { $map: [...value].map(([k, v]) => [toJson(k), toJson(v)]) }
  if (value instanceof Set) return { $set: [...value].map(toJson) }
  // fromEntries defines own properties, so a `__proto__` key stays a key
  const out: Record<string, Json> = Object.fromEntries(Object.entries(value as object)
    .filter(([, v]) => v !== undefined && typeof v !== 'function' && typeof v !== 'symbol')
    .map(([key, v]) => [key, toJson(v)]))
  return isTagShaped(out) ? { $object: out } : out
}

/** Reads a JSON value back into the value it stands for (the inverse of {@link toJson}). */
export function fromJson (json: Json, where = 'argument'): unknown {
  if (json === null || typeof json !== 'object') return json
  if (Array.isArray(json)) return json.map(v => fromJson(v, where))
  if (!isTagShaped(json)) return fromObject(json, where)
  const [[tag, body]] = Object.entries(json)
  const bad = (what: string): never => { throw new UsageError(`${where}: ${tag} must be ${what}`) }
  switch (tag) {
    case '$bigint':
      if (typeof body !== 'string' || !/^-?\d+$/.test(body)) bad('a string of decimal digits')
      return BigInt(body as string)
    case '$bytes':
      if (typeof body !== 'string' || !BASE64.test(body)) bad('a base64 string')
      return new Uint8Array(Buffer.from(body as string, 'base64'))
    case '$date': {
      if (body === null) return new Date(NaN)
      const date = typeof body === 'string' ? new Date(body) : new Date(NaN)
      if (Number.isNaN(date.getTime())) bad('an ISO 8601 date string')
      return date
    }
    case '$map':
      if (!Array.isArray(body) || body.some(e => !Array.isArray(e) || e.length !== 2)) bad('an array of [key, value] pairs')
      return new Map((body as Json[][]).map(([k, v]) => [fromJson(k, where), fromJson(v, where)]))
    case '$set':
      if (!Array.isArray(body)) bad('an array')
      return new Set((body as Json[]).map(v => fromJson(v, where)))
    case '$number':
      if (typeof body !== 'string' || !(body in NON_FINITE)) bad('"NaN", "Infinity" or "-Infinity"')
      return NON_FINITE[body as string]
    default: // $object
      if (body === null || typeof body !== 'object' || Array.isArray(body)) bad('an object')
      return fromObject(body as Record<string, Json>, where)
  }
}

/** Prints a value as one line of JSON (or indented with `pretty`), tagged as {@link toJson} says. */
export function formatJson (value: unknown, pretty = false): string {
  return JSON.stringify(toJson(value), null, pretty ? 2 : undefined)
}

/** Parses a JSON command-line argument into the value it stands for; bad JSON is a UsageError. */
export function parseJsonArgument (text: string, where: string): unknown {
  let json: Json
  try {
    json = JSON.parse(text) as Json
  } catch (err) {
    throw new UsageError(`${where} is not JSON: ${(err as Error).message}`)
  }
  return fromJson(json, where)
}

function isTagShaped (object: Record<string, unknown>): boolean {
  const keys = Object.keys(object)
  return keys.length === 1 && TAGS.has(keys[0])
}

function fromObject (json: Record<string, Json>, where: string): Record<string, unknown> {
  return Object.fromEntries(Object.entries(json).map(([key, v]) => [key, fromJson(v, where)]))
}
