import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { InvalidOptionsError } from './errors.js'

/**
 * The node's identity. Bytes are an Ed25519 key in libp2p's protobuf encoding; a string is a key
 * file path: read when it exists, otherwise a new key is generated and saved there (mode 0600).
 * Undefined gives a new key every start (a new node id).
 */
export async function loadPrivateKey (source: Uint8Array | string | undefined): Promise<PrivateKey> {
  if (source === undefined) return generateKeyPair('Ed25519')
  if (source instanceof Uint8Array) return fromProtobuf(source, 'options.privateKey')
  let bytes: Uint8Array
  try {
    bytes = await readFile(source)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    return createKeyFile(source)
  }
  return fromProtobuf(bytes, `key file ${source}`)
}

/** Generates an Ed25519 key and writes it to `path` (0600); fails if the file exists. */
export async function createKeyFile (path: string): Promise<PrivateKey> {
  const key = await generateKeyPair('Ed25519')
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, privateKeyToProtobuf(key), { mode: 0o600, flag: 'wx' })
  return key
}

function fromProtobuf (bytes: Uint8Array, what: string): PrivateKey {
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new InvalidOptionsError(`${what} is not a libp2p private key: ${(err as Error).message}`)
  }
}
