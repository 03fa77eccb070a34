/** Reading benchmark settings from environment variables: a clear error for a bad value. */

export function raw (env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim()
  return value === undefined || value === '' ? undefined : value
}

export function positiveNumber (env: NodeJS.ProcessEnv, name: string, fallback: number, max: number): number {
  const value = nonNegativeNumber(env, name, fallback, max)
  if (value === 0) throw new Error(`${name} must be a number above 0`)
  return value
}

export function nonNegativeNumber (env: NodeJS.ProcessEnv, name: string, fallback: number, max: number): number {
  const text = raw(env, name)
  if (text === undefined) return fallback
  const value = Number(text)
  if (!Number.isFinite(value) || value < 0 || value > max) throw new Error(`${name} must be a number from 0 to ${max}, got '${text}'`)
  return value
}

export function positiveInteger (env: NodeJS.ProcessEnv, name: string, fallback: number, max: number, min = 1): number {
  const text = raw(env, name)
  if (text === undefined) return fallback
  const value = Number(text.replaceAll('_', ''))
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got '${text}'`)
  return value
}

/** A comma-separated subset of `all` (all of them when unset), in `all`'s order. */
export function list<T extends string> (env: NodeJS.ProcessEnv, name: string, all: readonly T[]): T[] {
  const text = raw(env, name)
  if (text === undefined) return [...all]
  const names = text.split(',').map(s => s.trim()).filter(s => s !== '')
  const unknown = names.filter(n => !(all as readonly string[]).includes(n))
  if (unknown.length > 0 || names.length === 0) throw new Error(`${name} must list some of ${all.join(',')}, got '${text}'`)
  return all.filter(s => names.includes(s))
}
