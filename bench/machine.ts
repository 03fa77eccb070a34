/**
 * CPU time used by the whole machine, to tell how much of it went to processes other than the
 * benchmark's two during a measurement. On a shared 2-core machine that is the main source of
 * noise, and a row measured while something else ran is not comparable with one measured without.
 */
import { readFileSync } from 'node:fs'

/** Linux USER_HZ: /proc/stat counts in 1/100 s on every mainstream kernel configuration. */
const TICK_US = 10_000

/** Busy CPU time of all CPUs together since boot, µs; undefined where /proc/stat is missing. */
export function machineBusyUs (): number | undefined {
  let text: string
  try {
    text = readFileSync('/proc/stat', 'latin1')
  } catch {
    return undefined
  }
  const line = text.slice(0, text.indexOf('\n'))
  // cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
  const f = line.trim().split(/\s+/).slice(1).map(Number)
  if (f.length < 8 || f.some(n => !Number.isFinite(n))) return undefined
  const busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7]
  return busy * TICK_US
}
