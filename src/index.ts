/**
 * kadmesh: an actor-based RPC mesh for Node.js. Nodes call each other's actors by node id over
 * kept-alive QUIC stream pools, with no broker and no route configuration.
 *
 * @example
 * ```ts
 * import { createMesh } from 'kadmesh'
 *
 * await using a = await createMesh({ listen: ['/ip4/127.0.0.1/udp/0/quic-v1'] })
 * a.actor('greeter', { hello: ({ name }) => `hello, ${name}` })
 *
 * await using b = await createMesh({ listen: ['/ip4/127.0.0.1/udp/0/quic-v1'], bootstrap: a.addresses })
 * console.log(await b.call(a.nodeId, 'greeter.hello', { name: 'b' }))   // 'hello, b'
 * ```
 *
 * @packageDocumentation
 */
import { Mesh } from './mesh.js'
import type { MeshInit } from './options.js'

/** Starts a mesh node. See {@link MeshInit} for the options and their defaults. */
export async function createMesh (init?: MeshInit): Promise<Mesh> {
  return Mesh.create(init)
}

export { Mesh }
export type { CallOptions, CallTrace, MeshStats, RouteEntry } from './mesh.js'
export type { MeshInit, QuicInit, ShmInit, UdpInit } from './options.js'
export type { ActorOptions, Handler, Handlers } from './actors/actor.js'
export type { Context } from './actors/context.js'
export type { ActorStats } from './actors/gateway.js'
export type { Counters, PubsubCounters } from './stats.js'
export type { Message, Overflow, SubscribeOptions, Subscription } from './pubsub/subscription.js'
export type { PublishOptions, PublishResult } from './pubsub/pubsub.js'
export type { StreamPoolStats } from './transport/quic/stream-pool.js'
export type { TransportName } from './transport/interfaces.js'
export { createKeyFile, loadPrivateKey } from './identity.js'
export { allowPeers } from './gater.js'
export {
  AbortedError, BadRequestError, ClosedError, ConnectionLostError, ErrorCode, ForbiddenError,
  HopLimitError, InvalidOptionsError, LoopError, MeshError, NoSuchMethodError, OverloadedError,
  RemoteError, RingCorruptError, TimeoutError, TooLargeError, UnreachableError
} from './errors.js'
export type { MeshErrorOptions, RingField } from './errors.js'
