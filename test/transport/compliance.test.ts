import { describe } from 'vitest'
import { native } from './native/native-env.js'
import { transportCompliance } from './compliance.js'
import { memoryHarness, quicHarness, shmHarness, udpHarness } from './harness.js'

transportCompliance('in-memory', memoryHarness)
transportCompliance('quic', quicHarness)

describe.skipIf(native === undefined)('native fast paths', () => {
  transportCompliance('udp', async () => udpHarness(native!))
  transportCompliance('shm', async () => shmHarness(native!))
})
