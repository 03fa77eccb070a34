/**
 * Micro benchmark of the native fast-path layer, each result next to its baseline from the same run:
 *
 * - UDP one-way, 64 B (BENCH_NATIVE_SIZE): `sendmmsg` batches of 64 → uv_poll + `recvmmsg`
 *   receiver (and busy-poll receiver), vs `dgram` → `dgram`. Two processes; received pps and loss.
 * - shm ring one-way msgs/s (64 B and 1 KiB) between two processes.
 * - Ping-pong RTT p50/p99, two processes, one in flight: shm ring hot (consumer polling) and cold
 *   (doorbell every time), native UDP, `dgram`.
 *
 * Run: `npm run build && node_modules/.bin/node dist/bench/native.js` (BENCH_SECONDS, default 2;
 * BENCH_RTT_ROUNDS, default 20000; BENCH_QUIET_WAIT, default 45: seconds to wait for a quiet
 * machine before each row, 0 to skip). "foreign" is CPU used by other processes during the run, in
 * cores: a row with foreign > 0.35 was disturbed (notes/native-fast-path.md, machine and method).
 */
import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadNativeBinding } from '../src/transport/native/binding.js'
import type { NativeBinding } from '../src/transport/native/binding.js'
import { defaultShmDir, ShmRingPair } from '../src/transport/native/shm.js'
import { NativeUdpSocket } from '../src/transport/native/udp.js'
import { machineBusyUs } from './machine.js'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2)
const RTT_ROUNDS = Number(process.env.BENCH_RTT_ROUNDS ?? 20_000)
const UDP_SIZE = Number(process.env.BENCH_NATIVE_SIZE ?? 64)
const QUIET_WAIT_S = Number(process.env.BENCH_QUIET_WAIT ?? 45)
const SELF = fileURLToPath(import.meta.url)

type Msg = { type: string, [k: string]: unknown }

const tick = async (): Promise<void> => { await new Promise<void>(resolve => setImmediate(resolve)) }

// ---------------------------------------------------------------- child roles

async function child (binding: NativeBinding, role: string, args: Record<string, unknown>): Promise<void> {
  const send = (m: Msg): void => { process.send!(m) }
  const done = (extra: Record<string, unknown> = {}): void => {
    const u = process.cpuUsage()
    send({ type: 'done', cpuUs: u.user + u.system, ...extra })
    process.disconnect()
  }
  if (role === 'udp-send') {
    const { port, native, size } = args as { port: number, native: boolean, size: number }
    const payloads = Array.from({ length: 64 }, () => new Uint8Array(size))
    let sent = 0
    const end = performance.now() + SECONDS * 1000
    if (native) {
      const sock = new NativeUdpSocket(binding)
      while (performance.now() < end) {
        for (let i = 0; i < 16; i++) sent += sock.sendTo('127.0.0.1', port, payloads)
        await tick()
      }
      sock.close()
    } else {
      const sock = createSocket('udp4')
      sock.connect(port, '127.0.0.1')
      await new Promise<void>(resolve => sock.once('connect', resolve))
      while (performance.now() < end) {
        await new Promise<void>(resolve => {
          let left = 64
          for (const p of payloads) sock.send(p, () => { if (--left === 0) resolve() })
        })
        sent += 64
      }
      sock.close()
    }
    done({ sent })
  } else if (role === 'udp-echo') {
    const { native } = args as { native: boolean }
    if (native) {
      const sock: NativeUdpSocket = new NativeUdpSocket(binding, {
        onDatagrams: (batch) => { for (const d of batch) sock.sendTo(d.address, d.port, [d.data]) }
      })
      send({ type: 'ready', port: sock.port })
    } else {
      const sock = createSocket('udp4')
      sock.on('message', (m, r) => { sock.send(m, r.port, r.address) })
      await new Promise<void>(resolve => sock.bind(0, '127.0.0.1', resolve))
      send({ type: 'ready', port: sock.address().port })
    }
  } else if (role === 'shm-blast') {
    const { name, dir, size } = args as { name: string, dir: string, size: number }
    const batch = Array.from({ length: 256 }, () => new Uint8Array(size))
    let sent = 0
    // eslint-disable-next-line prefer-const -- assigned after pump is defined, which it needs
    let pair: ShmRingPair
    const end = performance.now() + SECONDS * 1000
    const pump = (): void => {
      for (let i = 0; i < 64 && performance.now() < end; i++) {
        const n = pair.writeBatch(batch)
        sent += n
        if (n < batch.length) return // onWritable resumes
      }
      if (performance.now() < end) setImmediate(pump)
      else {
        done({ sent })
        pair.close()
      }
    }
    pair = ShmRingPair.open(binding, { name, dir, onRecord: () => {}, onWritable: pump })
    pump()
  } else if (role === 'shm-echo') {
    const { name, dir, idleSpinUs } = args as { name: string, dir: string, idleSpinUs: number }
    const pair: ShmRingPair = ShmRingPair.open(binding, { name, dir, idleSpinUs, onRecord: (r) => { pair.write(r) } })
    send({ type: 'ready' })
  }
}

// ---------------------------------------------------------------- parent helpers

function spawnRole (role: string, args: Record<string, unknown>): { child: ChildProcess, next: (type: string) => Promise<Msg> } {
  const c = fork(SELF, ['--role', role, JSON.stringify(args)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const inbox: Msg[] = []
  const waiters: Array<{ type: string, resolve: (m: Msg) => void }> = []
  c.on('message', (m: Msg) => {
    const i = waiters.findIndex(w => w.type === m.type)
    if (i >= 0) waiters.splice(i, 1)[0].resolve(m)
    else inbox.push(m)
  })
  return {
    child: c,
    next: async (type) => {
      const i = inbox.findIndex(m => m.type === type)
      if (i >= 0) return inbox.splice(i, 1)[0]
      return await new Promise(resolve => waiters.push({ type, resolve }))
    }
  }
}

/** CPU µs a process has used so far (utime + stime from /proc/<pid>/stat), or 0. */
function processCpuUs (pid: number | undefined): number {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1')
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) * 10_000
  } catch {
    return 0
  }
}

/** Foreign CPU (cores) during [start, end]: machine busy time minus ours and the child's. */
class Load {
  readonly #busy = machineBusyUs()
  readonly #own = process.cpuUsage()
  readonly #start = performance.now()
  foreign (childCpuUs: number): number {
    const busy = machineBusyUs()
    if (busy === undefined || this.#busy === undefined) return NaN
    const own = process.cpuUsage(this.#own)
    const wallUs = (performance.now() - this.#start) * 1000
    return Math.max(0, (busy - this.#busy - own.user - own.system - childCpuUs) / wallUs)
  }
}

/**
 * Waits (at most BENCH_QUIET_WAIT s, default 45) until the machine is quiet: ≤ 0.35 cores busy over
 * 0.5 s, as the measurements in notes/native-fast-path.md did. A row still shows its foreign load.
 */
async function waitQuiet (): Promise<void> {
  const deadline = performance.now() + QUIET_WAIT_S * 1000
  while (performance.now() < deadline) {
    const before = machineBusyUs()
    if (before === undefined) return
    await new Promise<void>(resolve => setTimeout(resolve, 500))
    const cores = (machineBusyUs()! - before) / 500_000
    if (cores <= 0.35) return
  }
}

interface Row { what: string, result: string, foreign: number }
const rows: Row[] = []
function row (what: string, result: string, foreign: number): void {
  rows.push({ what, result, foreign })
  console.log(`${what.padEnd(58)} ${result.padEnd(34)} foreign ${Number.isNaN(foreign) ? 'n/a' : foreign.toFixed(2)}`)
}

function fmt (n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${(n / 1e3).toFixed(1)} k`
}

async function udpOneWay (binding: NativeBinding, receiver: 'native' | 'busy' | 'dgram', sender: 'native' | 'dgram'): Promise<void> {
  await waitQuiet()
  let received = 0
  let first = 0
  let last = 0
  const count = (n: number): void => {
    const now = performance.now()
    if (received === 0) first = now
    received += n
    last = now
  }
  let port: number
  let close: () => void
  if (receiver === 'dgram') {
    const sock = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 })
    sock.on('message', () => { count(1) })
    await new Promise<void>(resolve => sock.bind(0, '127.0.0.1', resolve))
    port = sock.address().port
    close = () => { sock.close() }
  } else {
    const sock = new NativeUdpSocket(binding, { mode: receiver === 'busy' ? 'busy' : 'poll', onDatagrams: (b) => { count(b.length) } })
    port = sock.port
    close = () => { sock.close() }
  }
  const load = new Load()
  const peer = spawnRole('udp-send', { port, native: sender === 'native', size: UDP_SIZE })
  const done = await peer.next('done')
  // Let the last datagrams in flight arrive (bounded: a few turns).
  for (let i = 0; i < 1000; i++) await tick()
  const foreign = load.foreign(done.cpuUs as number)
  close()
  const sent = done.sent as number
  const pps = received / Math.max(1e-3, (last - first) / 1000)
  row(`UDP one-way ${UDP_SIZE} B: ${sender} → ${receiver} receiver`, `${fmt(pps)} pps, loss ${(100 * (sent - received) / sent).toFixed(1)} %`, foreign)
}

async function shmOneWay (binding: NativeBinding, dir: string, size: number): Promise<void> {
  await waitQuiet()
  let received = 0
  let first = 0
  let last = 0
  const name = `bench-blast-${size}-${process.pid}`
  const pair = ShmRingPair.create(binding, {
    name,
    dir,
    onRecordRaw: () => {},
    onDrain: (n) => {
      const now = performance.now()
      if (received === 0) first = now
      received += n
      last = now
    }
  })
  const load = new Load()
  const peer = spawnRole('shm-blast', { name, dir, size })
  const done = await peer.next('done')
  for (let i = 0; i < 1000 && received < (done.sent as number); i++) await tick()
  const foreign = load.foreign(done.cpuUs as number)
  pair.close()
  row(`shm ring one-way ${size} B (two processes)`, `${fmt(received / ((last - first) / 1000))} msgs/s`, foreign)
}

function percentile (sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}

async function pingPong (what: string, roundTrip: () => Promise<void>, peerPid: number | undefined): Promise<void> {
  await waitQuiet()
  for (let i = 0; i < 2000; i++) await roundTrip()
  const load = new Load()
  const peerCpu = processCpuUs(peerPid)
  const samples = new Float64Array(RTT_ROUNDS)
  const deadline = performance.now() + 4000
  let n = 0
  for (; n < RTT_ROUNDS && performance.now() < deadline; n++) {
    const t0 = process.hrtime.bigint()
    await roundTrip()
    samples[n] = Number(process.hrtime.bigint() - t0) / 1000
  }
  const sorted = samples.subarray(0, n).sort()
  row(`RTT 64 B, one in flight: ${what}`, `p50 ${percentile(sorted, 0.5).toFixed(1)} µs, p99 ${percentile(sorted, 0.99).toFixed(1)} µs`, load.foreign(processCpuUs(peerPid) - peerCpu))
}

async function shmPingPong (binding: NativeBinding, dir: string, idleSpinUs: number, label: string): Promise<void> {
  const name = `bench-pp-${idleSpinUs}-${process.pid}`
  let resolveReply: (() => void) | undefined
  const pair = ShmRingPair.create(binding, { name, dir, idleSpinUs, onRecord: () => { resolveReply?.() } })
  const peer = spawnRole('shm-echo', { name, dir, idleSpinUs })
  await peer.next('ready')
  const msg = new Uint8Array(64)
  await pingPong(label, async () => {
    const reply = new Promise<void>(resolve => { resolveReply = resolve })
    pair.write(msg)
    await reply
  }, peer.child.pid)
  peer.child.kill()
  pair.close()
}

async function udpPingPong (binding: NativeBinding, native: boolean): Promise<void> {
  const peer = spawnRole('udp-echo', { native })
  const { port } = await peer.next('ready') as { port: number } & Msg
  const msg = new Uint8Array(64)
  let resolveReply: (() => void) | undefined
  let close: () => void
  let send: () => void
  if (native) {
    const sock = new NativeUdpSocket(binding, { onDatagrams: () => { resolveReply?.() } })
    send = () => { sock.sendTo('127.0.0.1', port, [msg]) }
    close = () => { sock.close() }
  } else {
    const sock = createSocket('udp4')
    sock.on('message', () => { resolveReply?.() })
    await new Promise<void>(resolve => sock.bind(0, '127.0.0.1', resolve))
    send = () => { sock.send(msg, port, '127.0.0.1') }
    close = () => { sock.close() }
  }
  await pingPong(native ? 'native UDP (uv_poll + recvmmsg)' : 'dgram (baseline)', async () => {
    const reply = new Promise<void>(resolve => { resolveReply = resolve })
    send()
    await reply
  }, peer.child.pid)
  peer.child.kill()
  close()
}

async function main (): Promise<void> {
  const { binding, reason } = loadNativeBinding()
  const roleAt = process.argv.indexOf('--role')
  if (roleAt >= 0) {
    if (binding === undefined) throw new Error(reason)
    await child(binding, process.argv[roleAt + 1], JSON.parse(process.argv[roleAt + 2]) as Record<string, unknown>)
    return
  }
  if (binding === undefined) {
    console.error(`native addon unavailable: ${reason}`)
    process.exitCode = 1
    return
  }
  const dir = mkdtempSync(join(defaultShmDir(), 'kadmesh-bench-'))
  try {
    console.log(`native fast path micro benchmark: ${SECONDS} s per one-way run, ${RTT_ROUNDS} round trips per RTT run\n`)
    await udpOneWay(binding, 'dgram', 'dgram')
    await udpOneWay(binding, 'native', 'dgram')
    await udpOneWay(binding, 'native', 'native')
    await udpOneWay(binding, 'busy', 'native')
    await shmOneWay(binding, dir, 64)
    await shmOneWay(binding, dir, 1024)
    await udpPingPong(binding, false)
    await udpPingPong(binding, true)
    await shmPingPong(binding, dir, 200, 'shm ring, hot (consumers poll, idleSpinUs 200)')
    await shmPingPong(binding, dir, 0, 'shm ring, cold (doorbell every message, idleSpinUs 0)')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  // Children of one-way runs exit by themselves; echo children were killed.
}

main().then(() => {
  if (process.argv.includes('--role')) return
  process.exit()
}, (err: unknown) => {
  console.error(err)
  process.exit(1)
})
