/** `kadmesh call <nodeId> <method> [json-args]`: one call through the mesh, result as JSON. */
import { CLIENT_OPTIONS, joinAsClient } from './client.js'
import type { Io } from './io.js'
import { formatJson } from './json.js'
import type { Command, ParsedCommand } from './spec.js'

export const callCommand: Command = {
  spec: {
    name: 'call',
    summary: 'call a method on a node and print the result as JSON',
    description: [
      'Joins the mesh through --bootstrap with a fresh key (outbound-only), calls <method> on node <nodeId>',
      'with [json-args] (no arguments when left out), prints the result as one line of JSON and exits 0.',
      'Values JSON cannot hold are tagged both ways: {"$bigint":"1"}, {"$bytes":"<base64>"}, {"$date":"…"},',
      '{"$map":[[k,v]]}, {"$set":[…]}, {"$number":"NaN"} (docs/operations.md). A failed call prints',
      '"kadmesh: <code>: <message>" on standard error and exits 1.'
    ].join('\n'),
    positionals: [{ name: 'nodeId' }, { name: 'method' }, { name: 'json-args', optional: true, json: true }],
    options: {
      ...CLIENT_OPTIONS,
      timeout: { type: 'integer', min: 1, max: 2 ** 31 - 1, arg: '<ms>', help: 'how long to wait for the result (default 10000)' },
      hops: { type: 'integer', min: 1, max: 32, arg: '<n>', help: 'most hops through gateways (default 8)' },
      trace: { type: 'boolean', help: 'print {"value", "path", "transports", "ms"}: the route the call took' },
      pretty: { type: 'boolean', help: 'indent the JSON' }
    }
  },
  run: runCall
}

async function runCall ({ values, positionals }: ParsedCommand, io: Io): Promise<number> {
  const [nodeId, method, args] = positionals as [string, string, unknown]
  const options = { timeout: (values.timeout as number | undefined) ?? 10_000, hops: values.hops as number | undefined }
  const mesh = await joinAsClient(values, io.cwd)
  try {
    if (values.trace === true) {
      const callStart = performance.now()
      const trace = await mesh.traceCall(nodeId, method, args, options)
      const ms = Math.round((performance.now() - callStart) * 1000) / 1000
      // a call without a result still has a "value" (null), as the call without --trace prints
      io.out(formatJson({ value: trace.value ?? null, path: trace.path, transports: trace.transports, ms }, values.pretty === true))
    } else {
      io.out(formatJson(await mesh.call(nodeId, method, args, options), values.pretty === true))
    }
  } finally {
    await mesh.stop()
  }
  return 0
}
