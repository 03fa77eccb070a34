/** `kadmesh publish <topic> <json>` and `kadmesh subscribe <pattern>`. */
import { MeshError } from '../errors.js'
import { CLIENT_OPTIONS, joinAsClient } from './client.js'
import type { Io } from './io.js'
import { formatJson } from './json.js'
import type { Command, ParsedCommand } from './spec.js'

export const publishCommand: Command = {
  spec: {
    name: 'publish',
    summary: 'publish one message to a topic',
    description: [
      'Joins the mesh through --bootstrap with a fresh key (outbound-only), publishes <json> (tagged JSON,',
      'as for kadmesh call) to <topic>, prints {"subscribers", "acked", "failed"} as one JSON line and exits 0.',
      'With --ack it waits for the subscriber nodes to acknowledge; if one did not, it also prints an',
      'error line and exits 1.'
    ].join('\n'),
    positionals: [{ name: 'topic' }, { name: 'json', json: true }],
    options: {
      ...CLIENT_OPTIONS,
      ack: { type: 'boolean', help: 'wait for the subscriber nodes to acknowledge' },
      timeout: { type: 'integer', min: 1, max: 2 ** 31 - 1, arg: '<ms>', help: 'how long to wait for acknowledgements (default 10000)' },
      pretty: { type: 'boolean', help: 'indent the JSON' }
    }
  },
  run: runPublish
}

export const subscribeCommand: Command = {
  spec: {
    name: 'subscribe',
    summary: 'print the messages published to a topic or pattern, one JSON line each',
    description: [
      'Joins the mesh through --bootstrap with a fresh key (outbound-only), subscribes to <pattern> (a topic,',
      'or * for one level and ** for any depth: sensors/*, logs/**), says "subscribed" on standard error once',
      'publishers can find it, then prints each message as one JSON line {"topic", "data", "from", "seq"}',
      'until --count messages, --duration seconds, or SIGINT/SIGTERM; then exits 0. Messages the buffer',
      'had to drop are reported on standard error at the end (docs/operations.md).'
    ].join('\n'),
    positionals: [{ name: 'pattern' }],
    options: {
      ...CLIENT_OPTIONS,
      count: { type: 'integer', min: 1, arg: '<n>', help: 'stop after n messages' },
      duration: { type: 'integer', min: 1, max: 2_000_000, arg: '<seconds>', help: 'stop after this many seconds' },
      buffer: { type: 'integer', min: 1, max: 1_000_000, arg: '<n>', help: 'messages held while the output is slow (default 1024)' },
      overflow: { type: 'choice', choices: ['drop-oldest', 'drop-newest'], arg: '<policy>', help: 'what a full buffer drops (default drop-oldest)' }
    }
  },
  run: runSubscribe
}

async function runPublish ({ values, positionals }: ParsedCommand, io: Io): Promise<number> {
  const [topic, data] = positionals as [string, unknown]
  const mesh = await joinAsClient(values, io.cwd)
  try {
    const result = await mesh.publish(topic, data, { ack: values.ack === true, timeout: (values.timeout as number | undefined) ?? 10_000 })
    const failed = result.failed.map(f => ({ node: f.node, code: f.error.code, message: f.error.message }))
    io.out(formatJson({ subscribers: result.subscribers, acked: result.acked, failed }, values.pretty === true))
    if (failed.length === 0) return 0
    const { error } = result.failed[0]
    throw new MeshError(error.code, `${failed.length} of ${result.subscribers.length} subscriber nodes did not take the message; the first said: ${error.message}`, { node: result.failed[0].node })
  } finally {
    await mesh.stop()
  }
}

async function runSubscribe ({ values, positionals }: ParsedCommand, io: Io): Promise<number> {
  const [pattern] = positionals as [string]
  const count = values.count as number | undefined
  const stop = new AbortController()
  void io.stopSignal().then(() => { stop.abort() })
  const mesh = await joinAsClient(values, io.cwd)
  const timer = values.duration === undefined ? undefined : setTimeout(() => { stop.abort() }, (values.duration as number) * 1000)
  try {
    const sub = mesh.subscribe(pattern, {
      buffer: values.buffer as number | undefined,
      overflow: values.overflow as 'drop-oldest' | 'drop-newest' | undefined,
      signal: stop.signal
    })
    await Promise.race([sub.ready, new Promise(resolve => { stop.signal.addEventListener('abort', resolve, { once: true }) })])
    if (!stop.signal.aborted) io.err(`kadmesh: subscribed to ${pattern} as ${mesh.nodeId}`)
    let received = 0
    for await (const message of sub) {
      io.out(formatJson(message))
      if (++received === count) break
    }
    if (sub.dropped > 0) io.err(`kadmesh: ${sub.dropped} messages to this subscription were dropped (buffer full or lost)`)
  } finally {
    clearTimeout(timer)
    await mesh.stop()
  }
  return 0
}
