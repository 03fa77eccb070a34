/**
 * The native fast-path layer: the addon loader and the wrappers the mesh builds its UDP and
 * shared-memory links on. See docs/native.md.
 *
 * @packageDocumentation
 */
export { loadNativeBinding, resetNativeBindingCache, resolveNativeAddonPath, NATIVE_ABI_VERSION, NATIVE_ADDON_PATH } from './binding.js'
export type {
  NativeBinding, NativeBindingResult, NativeFeatures, NativeUdpOpenOptions, NativeUdpSocket as NativeUdpHandle,
  NativeShmRegion, NativeDoorbell, FutexWaitResult, LoadNativeBindingOptions
} from './binding.js'
export { RingCorruptError } from '../../errors.js'
export type { RingField } from '../../errors.js'
export { AdaptiveLoop } from './adaptive.js'
export type { AdaptiveLoopInit, AdaptiveLoopStats } from './adaptive.js'
export { ADDRESS_SIZE, AddressFormatter, encodeAddress, formatAddress } from './address.js'
export * from './ring.js'
export * from './shm.js'
export * from './udp.js'
