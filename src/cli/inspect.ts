/** `kadmesh routes` and `kadmesh stats`: ask a running node through its admin socket. */
import { adminRequest, findAdminSocket } from './admin.js'
import type { Io } from './io.js'
import type { Command, OptionSpec, ParsedCommand } from './spec.js'

const ADMIN_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  admin: { type: 'string', arg: '<path>', help: "the node's admin socket (default: the only running node's, in the default admin directory)" },
  node: { type: 'string', arg: '<nodeId>', help: 'the node whose admin socket in the default admin directory to use' },
  pretty: { type: 'boolean', help: 'indent the JSON' }
}

function adminCommand (name: string, summary: string, description: string): Command {
  return {
    spec: { name, summary, description, positionals: [], options: ADMIN_OPTIONS },
    run: async ({ values }: ParsedCommand, io: Io) => {
      const path = await findAdminSocket(io.env, { admin: values.admin as string | undefined, node: values.node as string | undefined })
      const result = await adminRequest(path, name)
      // the admin socket already sent tagged JSON: print it as it came
      io.out(JSON.stringify(result, null, values.pretty === true ? 2 : undefined))
      return 0
    }
  }
}

export const routesCommand = adminCommand('routes', "print a running node's routes as JSON", [
  'Prints the routes a running node knows, as a JSON array of {"destination", "path", "kind"}:',
  'kind "direct" is an open stream pool, "routed" a path through gateways (docs/routing.md).'
].join('\n'))

export const statsCommand = adminCommand('stats', "print a running node's counters, connections, pools and actors as JSON", [
  'Prints what mesh.stats() returns on a running node (node id, addresses, connections, counters,',
  'stream pools per peer, actors, routes) plus the admin socket\'s own counters under "admin".'
].join('\n'))
