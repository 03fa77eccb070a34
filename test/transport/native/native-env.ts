/**
 * The real addon for the `addon-*` tests. They are skipped, with the reason printed, only when the
 * addon is not built; set KADMESH_REQUIRE_NATIVE=1 (CI on Linux) to fail instead.
 */
import { loadNativeBinding } from '../../../src/transport/native/binding.js'
import type { NativeBinding } from '../../../src/transport/native/binding.js'

const result = loadNativeBinding()

if (result.binding === undefined) {
  if (process.env.KADMESH_REQUIRE_NATIVE === '1') throw new Error(`the native addon is required but unavailable: ${result.reason}`)
  console.warn(`skipping native addon tests: ${result.reason}`)
}

export const native: NativeBinding | undefined = result.binding
export const hasNative = native !== undefined
