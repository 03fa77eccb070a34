/** `kadmesh keygen <file>`: writes a new node key. */
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { resolve } from 'node:path'
import { InvalidOptionsError } from '../errors.js'
import { createKeyFile } from '../index.js'
import type { Command } from './spec.js'

export const keygenCommand: Command = {
  spec: {
    name: 'keygen',
    summary: 'write a new Ed25519 key file (mode 0600) and print its node id',
    description: 'Writes a new Ed25519 node key to <file> (mode 0600, never overwriting) and prints {"nodeId", "file"}.',
    positionals: [{ name: 'file' }],
    options: {}
  },
  run: async ({ positionals }, io) => {
    const file = resolve(io.cwd, positionals[0] as string)
    let key
    try {
      key = await createKeyFile(file)
    } catch (err) {
      const exists = (err as NodeJS.ErrnoException).code === 'EEXIST'
      throw new InvalidOptionsError(exists ? `${file} exists; keygen never overwrites a key` : `${file}: ${(err as Error).message}`)
    }
    io.out(JSON.stringify({ nodeId: peerIdFromPrivateKey(key).toString(), file }))
    return 0
  }
}
