import { createHash, createPrivateKey, createPublicKey } from 'node:crypto'
import { generateKeyPair, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromPublicKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import { montgomeryU, OriginAuth } from '../../src/routing/origin-auth.js'
import type { RouteHeader } from '../../src/routing/route-header.js'
import { encodePayload } from '../../src/wire/payload.js'

interface Node { id: string, key: PrivateKey, auth: OriginAuth }

async function node (): Promise<Node> {
  const key = await generateKeyPair('Ed25519')
  const id = peerIdFromPrivateKey(key).toString()
  return { id, key, auth: new OriginAuth(id, key) }
}

/** The header a call from `from` to `to` through one gateway carries. */
function sealed (from: Node, to: Node, method: string, payload: Uint8Array): RouteHeader {
  return { hop: 2, budget: 8, path: [from.id, 'gateway', to.id], ...from.auth.seal(to.id, method, payload) }
}

const payload = encodePayload({ amount: 10 })

describe('origin authentication of routed calls (a MAC under a key only the origin and the destination share)', () => {
  it('accepts a sealed call once, at its destination, and each direction has its own key', async () => {
    const [a, b] = await Promise.all([node(), node()])
    b.auth.verify(sealed(a, b, 'bank.pay', payload), 'bank.pay', payload)
    a.auth.verify(sealed(b, a, 'bank.pay', payload), 'bank.pay', payload)
    // B's MAC for a call to A, presented as A's call to B
    const reflected = { ...sealed(b, a, 'bank.pay', payload), path: [a.id, 'gateway', b.id] }
    expect(() => { b.auth.verify(reflected, 'bank.pay', payload) }).toThrow(expect.objectContaining({ code: 'MESH_ERR_FORBIDDEN' }))
  })

  it('refuses what a forwarder changed, another origin, another destination and a replay', async () => {
    const [a, b, c] = await Promise.all([node(), node(), node()])
    const refused = (header: RouteHeader, method = 'bank.pay', data = payload): void => {
      expect(() => { b.auth.verify(header, method, data) }).toThrow(expect.objectContaining({ code: 'MESH_ERR_FORBIDDEN' }))
    }
    const header = sealed(a, b, 'bank.pay', payload)
    refused(header, 'bank.refund')
    refused(header, 'bank.pay', encodePayload({ amount: 1000 }))
    refused({ ...header, timestamp: header.timestamp + 1 })
    refused({ ...header, nonce: header.nonce.map(x => x ^ 1) })
    refused({ ...header, mac: header.mac.subarray(0, 16) })
    refused({ ...header, path: [c.id, 'gateway', b.id] })
    refused({ ...sealed(a, c, 'bank.pay', payload), path: [a.id, 'gateway', b.id] })
    b.auth.verify(header, 'bank.pay', payload)
    refused(header)
  })

  it('refuses a call dated beyond the clock skew, even with a good MAC', async () => {
    const [a, b] = await Promise.all([node(), node()])
    const now = Date.now
    try {
      Date.now = () => now() - 10 * 60_000
      const old = sealed(a, b, 'bank.pay', payload)
      Date.now = now
      expect(() => { b.auth.verify(old, 'bank.pay', payload) }).toThrow(/timestamped -600 s/)
    } finally {
      Date.now = now
    }
  })

  it('gives every call of an origin its own nonce', async () => {
    const [a, b] = await Promise.all([node(), node()])
    // kept, then compared: a nonce must not change after the call that carries it was sealed
    const nonces = Array.from({ length: 1_000 }, () => a.auth.seal(b.id, 'x.y', payload).nonce)
    expect(new Set(nonces.map(n => Buffer.from(n).toString('hex'))).size).toBe(1_000)
  })

  it('refuses an origin whose node id holds a low-order key, whose shared secret anyone could compute', async () => {
    const b = await node()
    // the Ed25519 identity point (y = 1): X25519 with it gives an all-zero secret
    const lowOrder = new Uint8Array(32)
    lowOrder[0] = 1
    const id = peerIdFromPublicKey(publicKeyFromRaw(lowOrder)).toString()
    const header: RouteHeader = { hop: 2, budget: 8, path: [id, 'gateway', b.id], timestamp: Date.now(), nonce: new Uint8Array(8), mac: new Uint8Array(32) }
    expect(() => { b.auth.verify(header, 'bank.pay', payload) }).toThrow(expect.objectContaining({ code: 'MESH_ERR_FORBIDDEN', message: expect.stringContaining('no key can be shared') }))
    expect(() => b.auth.seal(id, 'bank.pay', payload)).toThrow(expect.objectContaining({ code: 'MESH_ERR_FORBIDDEN' }))
  })

  it('maps an Ed25519 public key to the X25519 key of the same secret', async () => {
    for (let i = 0; i < 8; i++) {
      const key = await generateKeyPair('Ed25519')
      const scalar = createHash('sha512').update(key.raw.subarray(0, 32)).digest().subarray(0, 32)
      const x25519 = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), scalar]), format: 'der', type: 'pkcs8' })
      const expected = createPublicKey(x25519).export({ format: 'der', type: 'spki' }).subarray(12)
      expect(Buffer.from(montgomeryU(key.publicKey.raw))).toEqual(expected)
    }
  })
})
