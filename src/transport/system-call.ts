import { PendingCall } from '../actors/pending-call.js'
import { HEADER_SIZE } from '../wire/frame.js'
import { methodBytes } from '../wire/frame-writer.js'
import { encodePayload } from '../wire/payload.js'
import type { PeerLink } from './interfaces.js'

/**
 * Sends a call over one given link, outside the mesh's call path (no resolver, no selector): how
 * the fast-path handshake travels over QUIC. Rejects with MESH_ERR_TIMEOUT after `timeout` ms.
 */
export async function linkCall (link: PeerLink, node: string, method: string, args: unknown, timeout: number): Promise<unknown> {
  const payload = encodePayload(args)
  const call = new PendingCall(node, method, payload, performance.now() + timeout, false)
  // length prefix, header, timeout, method length, method, arguments
  call.frameSize = 4 + HEADER_SIZE + 4 + 1 + methodBytes(method).byteLength + payload.byteLength
  const timer = setTimeout(() => { call.expire() }, timeout)
  try {
    link.submit(call)
    return await call.promise
  } finally {
    clearTimeout(timer)
  }
}
