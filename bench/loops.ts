/**
 * The two measurement loops. Both are bounded by a call count and by a time cap, and both are
 * raced against a watchdog, so a call that never settles fails the measurement instead of hanging
 * the run. The first failed call ends the loop: a benchmark that errors measures nothing useful.
 */
import { LatencyHistogram } from './stats.js'

export type Call = () => Promise<unknown>

export interface LoopLimits {
  /** Stop starting calls after this many seconds. */
  seconds: number
  /** Stop starting calls after this many. */
  maxCalls: number
  /**
   * Completed calls between two clock reads in the throughput loop. 1 for network calls; more for
   * in-process calls of well under a microsecond, where reading the clock every call would be a
   * visible part of what is measured. (A timer cannot stop those loops: they run entirely in
   * microtasks, so the event loop never reaches its timers phase.)
   */
  checkEvery?: number
}

export interface LatencyRun {
  calls: number
  seconds: number
  /** Round-trip times, µs. */
  histogram: LatencyHistogram
}

export interface ThroughputRun {
  calls: number
  seconds: number
  callsPerSecond: number
}

export class HungError extends Error {
  constructor (what: string, seconds: number) {
    super(`${what}: calls still outstanding ${seconds.toFixed(1)} s after the time cap; abandoned`)
    this.name = 'HungError'
  }
}

/** Seconds a loop may run past its time cap (draining outstanding calls) before it counts as hung. */
function graceSeconds (seconds: number): number {
  return Math.max(10, seconds)
}

/** One call at a time; records each call's round trip. */
export async function latencyLoop (call: Call, limits: LoopLimits): Promise<LatencyRun> {
  const run = await interleavedLatencyLoop([call], limits)
  return { calls: run.calls, seconds: run.seconds, histogram: run.histograms[0] }
}

export interface InterleavedLatencyRun {
  /** Calls of all kinds together. */
  calls: number
  seconds: number
  /** One per call kind, in the order given. */
  histograms: LatencyHistogram[]
}

/**
 * One call at a time, taking the calls in turn (a, b, a, b, …), each kind recorded in its own
 * histogram. Two kinds measured this way see the same machine conditions, so their difference is
 * not the difference between a quiet and a busy moment on a shared machine.
 */
export async function interleavedLatencyLoop (calls: Call[], limits: LoopLimits): Promise<InterleavedLatencyRun> {
  const histograms = calls.map(() => new LatencyHistogram())
  const control = { stopped: false }
  const start = performance.now()
  const end = start + limits.seconds * 1000
  const run = async (): Promise<InterleavedLatencyRun> => {
    let now = start
    let n = 0
    while (!control.stopped && n < limits.maxCalls && now < end) {
      const kind = n % calls.length
      const t0 = performance.now()
      await calls[kind]()
      now = performance.now()
      histograms[kind].record((now - t0) * 1000)
      n++
    }
    return { calls: n, seconds: (performance.now() - start) / 1000, histograms }
  }
  return watchdog(run(), limits.seconds, control, 'latency loop')
}

/** A closed loop keeping `inflight` calls outstanding; counts completions per second. */
export async function throughputLoop (call: Call, inflight: number, limits: LoopLimits): Promise<ThroughputRun> {
  const checkEvery = limits.checkEvery ?? 1
  const control = { stopped: false }
  let started = 0
  let completed = 0
  let sinceCheck = 0
  const start = performance.now()
  const end = start + limits.seconds * 1000
  const worker = async (): Promise<void> => {
    while (!control.stopped && started < limits.maxCalls) {
      started++
      await call()
      completed++
      if (++sinceCheck >= checkEvery) {
        sinceCheck = 0
        if (performance.now() >= end) control.stopped = true
      }
    }
  }
  const run = async (): Promise<ThroughputRun> => {
    const workers: Promise<void>[] = []
    for (let i = 0; i < inflight; i++) workers.push(worker())
    try {
      await Promise.all(workers)
    } finally {
      // One worker failing stops the others; wait for them so no call outlives the measurement.
      control.stopped = true
      await Promise.allSettled(workers)
    }
    const seconds = (performance.now() - start) / 1000
    return { calls: completed, seconds, callsPerSecond: completed / seconds }
  }
  return watchdog(run(), limits.seconds, control, `throughput loop (${inflight} in flight)`)
}

async function watchdog<T> (work: Promise<T>, seconds: number, control: { stopped: boolean }, what: string): Promise<T> {
  const grace = graceSeconds(seconds)
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      control.stopped = true
      reject(new HungError(what, grace))
    }, (seconds + grace) * 1000)
  })
  try {
    return await Promise.race([work, expired])
  } finally {
    clearTimeout(timer)
    control.stopped = true
    work.catch(() => {})
  }
}
