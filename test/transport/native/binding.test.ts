import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { loadNativeBinding, NATIVE_ABI_VERSION } from '../../../src/transport/native/binding.js'

const dir = mkdtempSync(join(tmpdir(), 'kadmesh-binding-test-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

function fakeModule (name: string, body: string): string {
  const path = join(dir, name)
  writeFileSync(path, body)
  return path
}

const FULL = `abiVersion: ${NATIVE_ABI_VERSION}, addressSize: 24, maxBatch: 1024, features () {}, udpOpen () {}, shmCreate () {}, shmOpen () {}, doorbellCreate () {}, doorbellOpen () {}`

describe('loadNativeBinding', () => {
  it('returns a reason instead of throwing when disabled, off Linux, or missing', () => {
    expect(loadNativeBinding({ env: { KADMESH_NATIVE: '0' } })).toEqual({ reason: 'disabled by KADMESH_NATIVE' })
    expect(loadNativeBinding({ env: { KADMESH_NATIVE: 'off' } }).binding).toBeUndefined()
    expect(loadNativeBinding({ platform: 'darwin', env: {} }).reason).toMatch(/Linux-only/)
    const missing = loadNativeBinding({ path: join(dir, 'nope.node') })
    expect(missing.binding).toBeUndefined()
    expect(missing.reason).toMatch(/failed to load/)
  })

  it('refuses a build of another ABI version or with missing exports', () => {
    const stale = fakeModule('stale.cjs', `module.exports = { ${FULL.replace(/abiVersion: \d+/, 'abiVersion: 999')} }`)
    expect(loadNativeBinding({ path: stale }).reason).toMatch(/ABI version 999, expected 1.*stale build/)
    const partial = fakeModule('partial.cjs', `module.exports = { ${FULL.replace('shmOpen () {}, ', '')} }`)
    expect(loadNativeBinding({ path: partial }).reason).toMatch(/does not export shmOpen/)
    const broken = fakeModule('broken.cjs', 'throw new Error("bad build")')
    expect(loadNativeBinding({ path: broken }).reason).toMatch(/failed to load: bad build/)
  })

  it('accepts a module with the whole surface, and honours KADMESH_NATIVE_PATH', () => {
    const good = fakeModule('good.cjs', `module.exports = { ${FULL} }`)
    expect(loadNativeBinding({ path: good }).binding?.abiVersion).toBe(NATIVE_ABI_VERSION)
    expect(loadNativeBinding({ env: { KADMESH_NATIVE_PATH: good } }).binding?.maxBatch).toBe(1024)
  })

  it('caches the default load', () => {
    expect(loadNativeBinding()).toBe(loadNativeBinding())
  })
})
