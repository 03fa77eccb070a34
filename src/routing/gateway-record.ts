import { BadRequestError } from '../errors.js'
import { decodePayload, encodePayload } from '../wire/payload.js'

/**
 * Gateway records: how a node that cannot be dialled (`reachability: 'outbound-only'`) tells the
 * mesh which nodes it keeps connections to. It puts a record in the DHT under
 * `/kadmesh-gw/<nodeId>`, signed with its own key, naming up to MAX_GATEWAYS of them; a caller that
 * cannot dial the node looks the record up and sends through one of them (a two-hop route). Nobody
 * else can write a node's record: DHT servers store, and readers accept, only records whose
 * signature verifies against the node id's key.
 */
export const GATEWAY_RECORD_NAMESPACE = 'kadmesh-gw'
/** Most gateways one record names. */
export const MAX_GATEWAYS = 3
/** A record older than this is ignored (its node republishes well within it). */
export const GATEWAY_RECORD_MAX_AGE = 30 * 60_000
/** Tolerated clock skew for a record's timestamp (ms). */
const MAX_SKEW = 5 * 60_000
const encoder = new TextEncoder()
const decoder = new TextDecoder()

export interface GatewayRecord {
  nodeId: string
  gateways: string[]
  /** When the node made it (ms since the epoch). */
  at: number
}

/** Signs and checks signatures (OriginAuth). */
export interface Signer {
  signBytes: (data: Uint8Array) => Promise<Uint8Array>
  verifies: (nodeId: string, data: Uint8Array, signature: Uint8Array) => Promise<boolean>
}

export function gatewayRecordKey (nodeId: string): Uint8Array {
  return encoder.encode(`/${GATEWAY_RECORD_NAMESPACE}/${nodeId}`)
}

function signedData (record: GatewayRecord): Uint8Array {
  return encoder.encode(`${GATEWAY_RECORD_NAMESPACE}\n${record.nodeId}\n${record.at}\n${record.gateways.join(',')}`)
}

/** The record's value as stored in the DHT. */
export async function encodeGatewayRecord (record: GatewayRecord, signer: Signer): Promise<Uint8Array> {
  return encodePayload([record.gateways, record.at, await signer.signBytes(signedData(record))])
}

/** Parses and checks a stored record: shape, signature by the node in the key, age. Throws BadRequestError. */
export async function decodeGatewayRecord (key: Uint8Array, value: Uint8Array, signer: Signer, now = Date.now()): Promise<GatewayRecord> {
  const prefix = `/${GATEWAY_RECORD_NAMESPACE}/`
  const keyText = decoder.decode(key)
  if (!keyText.startsWith(prefix)) throw new BadRequestError('not a gateway record key')
  const nodeId = keyText.slice(prefix.length)
  let fields: unknown
  try {
    fields = decodePayload(value)
  } catch {
    throw new BadRequestError(`the gateway record of ${nodeId} does not decode`)
  }
  const [gateways, at, signature] = Array.isArray(fields) ? fields : []
  if (!Array.isArray(gateways) || gateways.length > MAX_GATEWAYS || gateways.some(g => typeof g !== 'string' || g.length > 128) ||
      typeof at !== 'number' || !(signature instanceof Uint8Array)) {
    throw new BadRequestError(`the gateway record of ${nodeId} is malformed`)
  }
  const record: GatewayRecord = { nodeId, gateways: gateways as string[], at }
  if (!await signer.verifies(nodeId, signedData(record), signature)) throw new BadRequestError(`the gateway record of ${nodeId} is not signed by it`)
  if (at > now + MAX_SKEW || at < now - GATEWAY_RECORD_MAX_AGE) throw new BadRequestError(`the gateway record of ${nodeId} is out of date`)
  return record
}

/** kad-dht validator and selector for the namespace (servers store only what verifies; the newest record wins). */
export function gatewayRecordDht (signer: Signer): { validators: Record<string, (key: Uint8Array, value: Uint8Array) => Promise<void>>, selectors: Record<string, (key: Uint8Array, values: Uint8Array[]) => number> } {
  return {
    validators: { [GATEWAY_RECORD_NAMESPACE]: async (key, value) => { await decodeGatewayRecord(key, value, signer) } },
    selectors: {
      [GATEWAY_RECORD_NAMESPACE]: (_key, values) => {
        // values passed validation already; only the timestamp decides
        let best = 0
        let bestAt = -Infinity
        values.forEach((value, i) => {
          try {
            const at = (decodePayload(value) as unknown[])[1]
            if (typeof at === 'number' && at > bestAt) { best = i; bestAt = at }
          } catch {}
        })
        return best
      }
    }
  }
}

/**
 * When an outbound-only node should publish its record: when the gateways it would name changed
 * (no more often than `minInterval`), and every `refresh` ms regardless. Pure: it decides, the
 * caller publishes.
 */
export class GatewayAdvertiser {
  readonly #minInterval: number
  readonly #refresh: number
  #published: string | undefined
  #at = -Infinity

  constructor (minInterval: number, refresh: number) {
    this.#minInterval = minInterval
    this.#refresh = refresh
  }

  /** The gateways to publish now, or undefined. `gateways`: the node's connections, best first. */
  due (gateways: string[], now: number): string[] | undefined {
    const chosen = gateways.slice(0, MAX_GATEWAYS)
    if (chosen.length === 0) return undefined
    const key = [...chosen].sort().join(',')
    const changed = key !== this.#published
    if (!(changed && now - this.#at >= this.#minInterval) && now - this.#at < this.#refresh) return undefined
    this.#published = key
    this.#at = now
    return chosen
  }

  /** Publishing failed: try again once `minInterval` has passed. */
  failed (): void {
    this.#published = undefined
  }
}
