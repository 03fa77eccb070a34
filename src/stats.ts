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
  /** Streams opened and accepted on the RPC protocol. */
  streamsOpened: number
  streamsAccepted: number
  /** Streams that died with calls in flight on them. */
  streamsLost: number
  /** Calls this node sent through gateways (its route had more than one hop). */
  routedSent: number
  /** Routed calls this node passed on to their next hop. */
  routedForwarded: number
  /** Routed calls delivered here after their origin's signature checked out. */
  routedDelivered: number
  /** Destinations resolved without a cached route (dial attempt and/or discovery). */
  resolutions: number
  /** DHT lookups kadmesh started itself (a libp2p dial to a peer without known addresses starts its own, not counted here). */
  dhtLookups: number
  /** Route discoveries this node started as origin. */
  discoveries: number
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
    streamsOpened: 0,
    streamsAccepted: 0,
    streamsLost: 0,
    routedSent: 0,
    routedForwarded: 0,
    routedDelivered: 0,
    resolutions: 0,
    dhtLookups: 0,
    discoveries: 0
  }
}

export function countCode (table: Record<string, number>, code: string): void {
  table[code] = (table[code] ?? 0) + 1
}
