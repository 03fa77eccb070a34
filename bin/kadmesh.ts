#!/usr/bin/env node
/**
 * The kadmesh command line. Commands: `node` (run a node), `keygen <file>`. More (call, publish,
 * subscribe, routes, stats) come with the CLI work; see docs/.
 */
import { parseArgs } from 'node:util'
import { createKeyFile, createMesh, MeshError } from '../src/index.js'

const HELP = `usage: kadmesh <command> [options]

commands:
  node      run a node until SIGINT/SIGTERM; prints its node id and addresses as JSON
              --listen <multiaddr>      (repeatable; default /ip4/0.0.0.0/udp/0/quic-v1)
              --bootstrap <multiaddr>   (repeatable)
              --key <file>              key file, created when missing (default: a new key)
              --reachability <public|outbound-only>
              --actors <module>         module whose default export is (mesh) => void, registering actors
  keygen <file>  write a new Ed25519 key file (mode 0600); prints its node id
  help      this text
`

async function main (argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  switch (command) {
    case 'node': return runNode(rest)
    case 'keygen': return keygen(rest)
    case undefined: case 'help': case '--help': case '-h':
      process.stdout.write(HELP)
      return
    default:
      throw new UsageError(`unknown command ${command}; see kadmesh help`)
  }
}

async function runNode (args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      listen: { type: 'string', multiple: true },
      bootstrap: { type: 'string', multiple: true },
      key: { type: 'string' },
      reachability: { type: 'string' },
      actors: { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help === true) { process.stdout.write(HELP); return }
  const reachability = values.reachability as 'public' | 'outbound-only' | undefined
  const mesh = await createMesh({ listen: values.listen, bootstrap: values.bootstrap, privateKey: values.key, reachability })
  if (values.actors !== undefined) {
    const mod = await import(new URL(values.actors, `file://${process.cwd()}/`).href) as { default?: (mesh: unknown) => unknown }
    if (typeof mod.default !== 'function') throw new UsageError(`${values.actors} has no default export function (mesh) => void`)
    await mod.default(mesh)
  }
  console.log(JSON.stringify({ nodeId: mesh.nodeId, addresses: mesh.addresses }))
  const stop = (): void => { void mesh.stop().then(() => process.exit(0)) }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

async function keygen (args: string[]): Promise<void> {
  const { positionals } = parseArgs({ args, allowPositionals: true })
  if (positionals.length !== 1) throw new UsageError('usage: kadmesh keygen <file>')
  const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
  const key = await createKeyFile(positionals[0])
  console.log(JSON.stringify({ nodeId: peerIdFromPrivateKey(key).toString(), file: positionals[0] }))
}

class UsageError extends Error {
  readonly code = 'MESH_ERR_USAGE'
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const code = err instanceof MeshError || err instanceof UsageError ? err.code : (err as { code?: string }).code ?? 'ERROR'
  console.error(`kadmesh: ${code}: ${(err as Error).message}`)
  process.exit(err instanceof UsageError ? 2 : 1)
})
