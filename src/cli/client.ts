/** The short-lived node that `kadmesh call` (and the other one-shot commands) joins the mesh with. */
import { resolve } from 'node:path'
import { UnreachableError } from '../errors.js'
import { createMesh, type Mesh } from '../index.js'
import type { OptionSpec, ParsedCommand } from './spec.js'

/** The options every one-shot command takes to join the mesh. */
export const CLIENT_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  bootstrap: { type: 'string', multiple: true, required: true, arg: '<multiaddr>', help: 'node to join through, ending in /p2p/<nodeId>' },
  key: { type: 'string', arg: '<file>', help: 'key file to act as (default: a fresh key)' }
}

/**
 * Joins through `--bootstrap` as an outbound-only node: it listens nowhere and runs the DHT in
 * client mode, so a one-shot command never becomes a route or a DHT record holder for others.
 */
export async function joinAsClient (values: ParsedCommand['values'], cwd: string): Promise<Mesh> {
  const bootstrap = values.bootstrap as string[]
  // an outbound-only node listens nowhere; its listen addresses only say which socket families to dial from
  const listen = ['/ip4/0.0.0.0/udp/0/quic-v1', ...bootstrap.some(a => a.startsWith('/ip6/')) ? ['/ip6/::/udp/0/quic-v1'] : []]
  const mesh = await createMesh({
    bootstrap,
    listen,
    reachability: 'outbound-only',
    privateKey: values.key === undefined ? undefined : resolve(cwd, values.key as string)
  })
  // a node logs a bootstrap node it cannot reach and carries on; a one-shot command has nothing to carry on with
  if (mesh.libp2p.getConnections().length === 0) {
    await mesh.stop()
    throw new UnreachableError(`could not join the mesh: no --bootstrap node answered (${bootstrap.join(', ')})`)
  }
  return mesh
}
