import { describe, expect, it } from 'vitest'
import { AdaptiveLoop } from '../../../src/transport/native/adaptive.js'

/** A manual scheduler and clock: turns run only when the test says so. */
function harness (work: number[], idleUs: number, armResults: boolean[] = []) {
  const queue: Array<() => void> = []
  let now = 0
  const calls = { polls: 0, arms: 0, errors: [] as unknown[] }
  const loop = new AdaptiveLoop({
    poll: () => { calls.polls++; return work.shift() ?? 0 },
    arm: () => { calls.arms++; return armResults.shift() ?? true },
    idleUs,
    onError: (err) => { calls.errors.push(err) },
    schedule: (fn) => { queue.push(fn) },
    now: () => now
  })
  const step = (advanceMs = 0): boolean => {
    now += advanceMs
    const fn = queue.shift()
    fn?.()
    return fn !== undefined
  }
  return { loop, calls, step, queue }
}

describe('adaptive poll-then-sleep loop', () => {
  it('polls every turn while work arrives, then sleeps after the idle budget', () => {
    const { loop, calls, step } = harness([3, 2, 1], 100)
    loop.wake()
    expect(loop.hot).toBe(true)
    for (let i = 0; i < 3; i++) step(0.01)
    expect(calls.arms).toBe(0)
    step(0.05) // idle for 50 µs: keep polling
    expect(calls.arms).toBe(0)
    step(0.06) // idle for 110 µs: arm and sleep
    expect(calls.arms).toBe(1)
    expect(loop.hot).toBe(false)
    expect(step()).toBe(false)
    expect(loop.stats()).toEqual({ turns: 5, sleeps: 1, wakes: 1 })
  })

  it('stays hot when arming finds work', () => {
    const { loop, calls, step } = harness([], 0, [false, true])
    loop.wake()
    step()
    expect(calls.arms).toBe(1)
    expect(loop.hot).toBe(true)
    step()
    expect(loop.hot).toBe(false)
  })

  it('never sleeps with an infinite budget, and a wake while hot schedules nothing more', () => {
    const { loop, calls, step, queue } = harness([], Infinity)
    loop.wake()
    loop.wake()
    expect(queue).toHaveLength(1)
    for (let i = 0; i < 50; i++) step(1000)
    expect(calls.arms).toBe(0)
    expect(loop.hot).toBe(true)
  })

  it('stops on a poll error and reports it once', () => {
    const { loop, calls, step } = harness([], 100)
    const boom = new Error('boom')
    const l = new AdaptiveLoop({ poll: () => { throw boom }, arm: () => true, idleUs: 0, onError: (e) => calls.errors.push(e), schedule: (fn) => { fn() } })
    l.wake()
    expect(calls.errors).toEqual([boom])
    expect(l.stopped).toBe(true)
    l.wake()
    expect(calls.errors).toHaveLength(1)
    loop.stop()
    expect(step()).toBe(false)
  })

  it('a stopped loop ignores its pending turn and later wakes', () => {
    const { loop, calls, step } = harness([1, 1, 1], 100)
    loop.wake()
    loop.stop()
    step()
    loop.wake()
    expect(calls.polls).toBe(0)
    expect(loop.hot).toBe(false)
  })
})
