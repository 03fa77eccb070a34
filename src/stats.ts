/** Counters a mesh keeps; `mesh.stats()` returns a snapshot. Every rejected input is counted here. */
export interface Counters {
  /** Calls and casts this node sent. */
  callsSent: number
  castsSent: number
  /** Calls and casts that arrived for this node's actors (remote and local). */
  callsReceived: number
  castsReceived: number
  /** Calls that ended in an error at the caller, by error code. */
  callErrors: Record<string, number>
  /** Requests this node refused while serving, by error code (unknown method, full mailbox, …). */
  servedErrors: Record<string, number>
  /** Frames that could not be parsed (the sender got an error where it could be told). */
  badFrames: number
  /** Streams aborted because their framing broke (bad length prefix). */
  brokenStreams: number
  /** Frames that arrived beyond the flow-control window. */
  flowViolations: number
  /** Replies for calls this node no longer knows (arrived after a cancel, or bogus). */
  unexpectedReplies: number
  /** Casts that could not be delivered (casts have no caller to tell). */
  castsDropped: number
  /** Pub/sub (docs/pubsub.md). */
  pubsub: PubsubCounters
  /** Streams opened and accepted on the RPC protocol. */
  streamsOpened: number
  streamsAccepted: number
  /** Streams that died with calls in flight on them. */
  streamsLost: number
  /** Calls this node sent through gateways (its route had more than one hop). */
  routedSent: number
  /** Routed calls this node passed on to their next hop. */
  routedForwarded: number
  /** Routed calls delivered here after their origin's MAC checked out. */
  routedDelivered: number
  /** Destinations resolved without a cached route (dial attempt and/or discovery). */
  resolutions: number
  /** DHT lookups kadmesh started itself (a libp2p dial to a peer without known addresses starts its own, not counted here). */
  dhtLookups: number
  /** Route discoveries this node started as origin. */
  discoveries: number
  /** Gateway records this (outbound-only) node published in the DHT. */
  gatewayRecordsPublished: number
  /** Destinations reached through a gateway named in their DHT record (no discovery needed). */
  gatewayRoutes: number
  /** Calls and casts this node wrote, by the transport of their first hop (`quic`, `udp`, `shm`). */
  sentByTransport: Record<string, number>
  /** Calls and casts that arrived from other nodes, by transport. */
  receivedByTransport: Record<string, number>
  /**
   * Fast-path input dropped without an answer, by reason: datagrams that fail authentication
   * (`auth`), replays (`replay`), truncated or unknown-version datagrams (`malformed`), unknown
   * sessions (`session`), sequence numbers outside the window (`window`), shared-memory peers that
   * did not prove their identity (`shm-auth`), ring headers or records that failed validation
   * (`shm-corrupt`).
   */
  fastPathDropped: Record<string, number>
  /** Fast-path (udp/shm) links set up, and links that failed or closed with calls moved to QUIC. */
  fastPathsOpened: number
  fastPathsFailed: number
}

export function createCounters (): Counters {
  return {
    callsSent: 0,
    castsSent: 0,
    callsReceived: 0,
    castsReceived: 0,
    callErrors: {},
    servedErrors: {},
    badFrames: 0,
    brokenStreams: 0,
    flowViolations: 0,
    unexpectedReplies: 0,
    castsDropped: 0,
    pubsub: createPubsubCounters(),
    streamsOpened: 0,
    streamsAccepted: 0,
    streamsLost: 0,
    routedSent: 0,
    routedForwarded: 0,
    routedDelivered: 0,
    resolutions: 0,
    dhtLookups: 0,
    discoveries: 0,
    gatewayRecordsPublished: 0,
    gatewayRoutes: 0,
    sentByTransport: {},
    receivedByTransport: {},
    fastPathDropped: {},
    fastPathsOpened: 0,
    fastPathsFailed: 0
  }
}

/** Pub/sub counters: what this node published, delivered and lost, and the bad input it refused. */
export interface PubsubCounters {
  /** `publish` calls that handed their message on (to at least zero subscribers). */
  published: number
  /** Message copies handed to subscriber nodes' routes (one per matching node; local subscribers included). */
  sent: number
  /** Batches sent: each carries this node's messages of one tick to one subscriber node. */
  batches: number
  /** Message copies this node could not hand to a subscriber node: its route was congested or failed. */
  sendDropped: number
  /** Subscriber nodes forgotten after their route failed (until discovery finds them again). */
  forgotten: number
  /** Messages delivered into this node's subscriptions. */
  delivered: number
  /** Messages this node's subscriptions lost: overflow, sequence gaps, undecodable data. Each also shows as a `seq` gap. */
  dropped: number
  /** Messages that arrived again, or after their gap had been given up on (discarded). */
  duplicates: number
  /** Messages for subscriptions this node no longer has (the publisher is told). */
  unknown: number
  /** Malformed pub/sub input from peers (batches, control requests, replies), refused. */
  badInput: number
  /** `subscribe` and `publish` calls refused for an invalid topic, pattern or option. */
  invalid: number
  /** DHT provider lookups and provides started for pub/sub discovery. */
  lookups: number
  provides: number
}

export function createPubsubCounters (): PubsubCounters {
  return { published: 0, sent: 0, batches: 0, sendDropped: 0, forgotten: 0, delivered: 0, dropped: 0, duplicates: 0, unknown: 0, badInput: 0, invalid: 0, lookups: 0, provides: 0 }
}

export function countCode (table: Record<string, number>, code: string): void {
  table[code] = (table[code] ?? 0) + 1
}
