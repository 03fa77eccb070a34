import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { describe, expect, it } from 'vitest'
import { decodeGatewayRecord, encodeGatewayRecord, GATEWAY_RECORD_MAX_AGE, GatewayAdvertiser, gatewayRecordDht, gatewayRecordKey } from '../../src/routing/gateway-record.js'
import { OriginAuth } from '../../src/routing/origin-auth.js'
import { encodePayload } from '../../src/wire/payload.js'
import { identities } from './topology.js'

async function signers (): Promise<{ a: { id: string, auth: OriginAuth }, b: { id: string, auth: OriginAuth }, gateways: string[] }> {
  const [a, b, ...rest] = await identities(5)
  const auth = (i: { id: string, key: Uint8Array }): OriginAuth => new OriginAuth(i.id, privateKeyFromProtobuf(i.key))
  return { a: { id: a.id, auth: auth(a) }, b: { id: b.id, auth: auth(b) }, gateways: rest.map(r => r.id) }
}

describe('gateway records', () => {
  it('round-trip when signed by the node they name', async () => {
    const { a, gateways } = await signers()
    const at = Date.now()
    const value = await encodeGatewayRecord({ nodeId: a.id, gateways, at }, a.auth)
    expect(await decodeGatewayRecord(gatewayRecordKey(a.id), value, a.auth)).toEqual({ nodeId: a.id, gateways, at })
    await expect(gatewayRecordDht(a.auth).validators['kadmesh-gw'](gatewayRecordKey(a.id), value)).resolves.toBeUndefined()
  })

  it('are refused when forged, tampered with, stale, malformed or under another key', async () => {
    const { a, b, gateways } = await signers()
    const at = Date.now()
    const byB = await encodeGatewayRecord({ nodeId: a.id, gateways, at }, b.auth)
    const refusals = [
      decodeGatewayRecord(gatewayRecordKey(a.id), byB, a.auth),
      decodeGatewayRecord(gatewayRecordKey(b.id), await encodeGatewayRecord({ nodeId: a.id, gateways, at }, a.auth), a.auth),
      decodeGatewayRecord(gatewayRecordKey(a.id), await encodeGatewayRecord({ nodeId: a.id, gateways, at: at - GATEWAY_RECORD_MAX_AGE - 1 }, a.auth), a.auth),
      decodeGatewayRecord(gatewayRecordKey(a.id), encodePayload([[b.id], at, new Uint8Array(64)]), a.auth),
      decodeGatewayRecord(gatewayRecordKey(a.id), encodePayload({ gateways }), a.auth),
      decodeGatewayRecord(gatewayRecordKey(a.id), new Uint8Array([0xc1, 0xff]), a.auth),
      decodeGatewayRecord(new TextEncoder().encode(`/pk/${a.id}`), byB, a.auth)
    ]
    for (const refusal of refusals) await expect(refusal).rejects.toMatchObject({ code: 'MESH_ERR_BAD_REQUEST' })
  })

  it('select the newest of several valid records', async () => {
    const { a, gateways } = await signers()
    const older = await encodeGatewayRecord({ nodeId: a.id, gateways: gateways.slice(0, 1), at: Date.now() - 1000 }, a.auth)
    const newer = await encodeGatewayRecord({ nodeId: a.id, gateways, at: Date.now() }, a.auth)
    expect(gatewayRecordDht(a.auth).selectors['kadmesh-gw'](gatewayRecordKey(a.id), [older, newer, older])).toBe(1)
  })
})

describe('GatewayAdvertiser', () => {
  it('publishes when the gateways change (at most every minInterval) and refreshes unchanged ones', () => {
    const ad = new GatewayAdvertiser(2_000, 60_000)
    expect(ad.due([], 0)).toBeUndefined()
    expect(ad.due(['g1', 'g2', 'g3', 'g4'], 0)).toEqual(['g1', 'g2', 'g3'])
    expect(ad.due(['g3', 'g2', 'g1'], 1_000)).toBeUndefined()
    expect(ad.due(['g1'], 1_000)).toBeUndefined()
    expect(ad.due(['g1'], 2_000)).toEqual(['g1'])
    expect(ad.due(['g1'], 30_000)).toBeUndefined()
    expect(ad.due(['g1'], 62_000)).toEqual(['g1'])
    ad.failed()
    expect(ad.due(['g1'], 63_000)).toBeUndefined()
    expect(ad.due(['g1'], 64_000)).toEqual(['g1'])
  })
})
