/**
 * The fast-path handshake, a call to the system actor `_mesh.fastpath` over the peers' QUIC
 * connection (TLS 1.3, both ends authenticated by their node ids, so what it carries is secret and
 * bound to the peer). The asking node offers what it could use; the answering node picks one.
 *
 * - shm: the asking node created the ring files under `name`; it expects `token` as the answering
 *   node's first record, and the answer carries the token it must write first itself.
 * - udp: each side sends its session id, the key it decrypts with, and its UDP port; the address
 *   is the one the QUIC connection comes from.
 *
 * Validation is strict: anything unexpected is a BadRequestError (the hello fails, calls stay on QUIC).
 */
import { BadRequestError } from '../../errors.js'
import { KEY_BYTES } from '../udp/datagram.js'

export const FASTPATH_ACTOR = '_mesh.fastpath'
export const HELLO_METHOD = `${FASTPATH_ACTOR}.hello`
export const HELLO_VERSION = 1
export const TOKEN_BYTES = 32
const NAME = /^[A-Za-z0-9_-]{16,64}$/

export interface UdpHalf {
  id: number
  key: Uint8Array
  port: number
}

export interface HelloOffer {
  v: number
  /** The host's boot id (same host, same kernel); empty when unknown. */
  host: string
  uid: number
  shm?: { name: string, token: Uint8Array }
  udp?: UdpHalf
}

export interface HelloAnswer {
  shm?: { token: Uint8Array }
  udp?: UdpHalf
}

export function checkOffer (value: unknown): HelloOffer {
  const o = record(value, 'hello')
  if (o.v !== HELLO_VERSION) throw bad(`hello version ${String(o.v)} is not ${HELLO_VERSION}`)
  if (typeof o.host !== 'string' || o.host.length > 64) throw bad('hello.host must be a short string')
  if (!Number.isInteger(o.uid)) throw bad('hello.uid must be an integer')
  const offer: HelloOffer = { v: HELLO_VERSION, host: o.host, uid: o.uid as number }
  if (o.shm !== undefined) {
    const shm = record(o.shm, 'hello.shm')
    if (typeof shm.name !== 'string' || !NAME.test(shm.name)) throw bad('hello.shm.name is not a ring name')
    offer.shm = { name: shm.name, token: bytes(shm.token, TOKEN_BYTES, 'hello.shm.token') }
  }
  if (o.udp !== undefined) offer.udp = udpHalf(o.udp, 'hello.udp')
  return offer
}

export function checkAnswer (value: unknown): HelloAnswer {
  const a = record(value, 'hello answer')
  const answer: HelloAnswer = {}
  if (a.shm !== undefined) answer.shm = { token: bytes(record(a.shm, 'answer.shm').token, TOKEN_BYTES, 'answer.shm.token') }
  if (a.udp !== undefined) answer.udp = udpHalf(a.udp, 'answer.udp')
  if (answer.shm !== undefined && answer.udp !== undefined) throw bad('a hello answer picks one transport')
  return answer
}

function udpHalf (value: unknown, name: string): UdpHalf {
  const u = record(value, name)
  if (!Number.isInteger(u.id) || (u.id as number) < 1 || (u.id as number) > 0xffff_ffff) throw bad(`${name}.id must be a u32 above 0`)
  if (!Number.isInteger(u.port) || (u.port as number) < 1 || (u.port as number) > 65535) throw bad(`${name}.port must be a port number`)
  return { id: u.id as number, key: bytes(u.key, KEY_BYTES, `${name}.key`), port: u.port as number }
}

function record (value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(`${name} must be an object`)
  return value as Record<string, unknown>
}

function bytes (value: unknown, length: number, name: string): Uint8Array {
  if (!(value instanceof Uint8Array) || value.byteLength !== length) throw bad(`${name} must be ${length} bytes`)
  return value
}

function bad (message: string): BadRequestError {
  return new BadRequestError(`malformed fast-path handshake: ${message}`)
}
