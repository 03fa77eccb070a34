/**
 * Adds package-lock entries for optional platform packages that the registry this project is
 * developed against does not carry (e.g. @chainsafe/libp2p-quic-darwin-arm64): npm install leaves
 * them out of the lock, and `npm ci` then refuses the lock as out of sync. Each entry gets the
 * os/cpu/libc its name states, so npm skips it on other platforms, as it would from a full
 * registry. Run after `npm install` changes the lock: `node scripts/lock-platforms.mjs`.
 */
import { readFileSync, writeFileSync } from 'node:fs'

const PLATFORM = /-(darwin|linux|win32|freebsd|android)-(x64|arm64|arm|ia32|riscv64|s390x|ppc64)(?:-(gnu|musl|msvc|gnueabihf))?$/
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'))
let added = 0
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`
    const match = PLATFORM.exec(name)
    if (lock.packages[key] !== undefined || lock.packages[`${path}/${key}`] !== undefined || match === null) continue
    const [, os, cpu, abi] = match
    const libc = abi === 'gnu' || abi === 'gnueabihf' ? ['glibc'] : abi === 'musl' ? ['musl'] : undefined
    lock.packages[key] = { version: range.replace(/^[\^~=]/, ''), os: [os], cpu: [cpu], ...(libc === undefined ? {} : { libc }), optional: true }
    added++
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => a === '' ? -1 : b === '' ? 1 : a.localeCompare(b)))
writeFileSync('package-lock.json', JSON.stringify(lock, null, 2) + '\n')
console.log(`added ${added} platform entries`)
