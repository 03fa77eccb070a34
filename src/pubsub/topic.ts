import { BadRequestError } from '../errors.js'

/** Longest topic or pattern, in UTF-8 bytes. */
export const MAX_TOPIC_BYTES = 1024
/** The discovery key of patterns whose first level is a wildcard (no topic level can be exactly `*`). */
export const KEY_ANY = '*'

const ONE = '*'
const ANY_DEPTH = '**'
const utf8 = new TextEncoder()

/**
 * A compiled subscription pattern: `/`-separated levels, each matched literally except the whole
 * level `*` (exactly one level, any content, empty included) and a last level `**` (zero or more
 * levels). See docs/pubsub.md.
 */
export interface Pattern {
  readonly source: string
  /** The discovery key: the first level, or {@link KEY_ANY} when the first level is a wildcard. */
  readonly key: string
  /** True for a pattern without wildcards (it matches only the topic equal to it). */
  readonly exact: boolean
  matches (topic: string): boolean
}

/** Checks a topic a message is published to; throws BadRequestError naming the rule it breaks. */
export function checkTopic (topic: string): void {
  checkText(topic, 'topic')
  for (const level of topic.split('/')) {
    if (level === ONE || level === ANY_DEPTH) {
      throw new BadRequestError(`topic ${JSON.stringify(topic)} has a wildcard level (${level}); wildcards are for subscriptions`)
    }
  }
}

/** Compiles a subscription pattern; throws BadRequestError naming the rule it breaks. */
export function compilePattern (source: string): Pattern {
  checkText(source, 'pattern')
  const levels = source.split('/')
  const last = levels.length - 1
  for (let i = 0; i < last; i++) {
    if (levels[i] === ANY_DEPTH) throw new BadRequestError(`pattern ${JSON.stringify(source)}: ** may only be the last level`)
  }
  const tail = levels[last] === ANY_DEPTH
  const fixed = tail ? last : levels.length
  const exact = !tail && !levels.includes(ONE)
  const first = levels[0]
  const key = first === ONE || first === ANY_DEPTH ? KEY_ANY : first
  if (exact) return { source, key, exact, matches: (topic) => topic === source }
  return {
    source,
    key,
    exact,
    matches: (topic) => {
      const t = topic.split('/')
      if (tail ? t.length < fixed : t.length !== fixed) return false
      for (let i = 0; i < fixed; i++) {
        if (levels[i] !== ONE && levels[i] !== t[i]) return false
      }
      return true
    }
  }
}

/** The discovery key of a (valid) topic's concrete first level. Patterns under it or under {@link KEY_ANY} may match it. */
export function topicKey (topic: string): string {
  const slash = topic.indexOf('/')
  return slash === -1 ? topic : topic.slice(0, slash)
}

function checkText (text: string, what: string): void {
  if (typeof text !== 'string') throw new BadRequestError(`${what} must be a string`)
  if (text.length === 0) throw new BadRequestError(`${what} must not be empty`)
  if (!text.isWellFormed()) throw new BadRequestError(`${what} ${JSON.stringify(text)} is not well-formed Unicode (lone surrogate)`)
  // a UTF-16 unit is at most 3 UTF-8 bytes: only long strings need counting
  if (text.length * 3 > MAX_TOPIC_BYTES && utf8.encode(text).byteLength > MAX_TOPIC_BYTES) {
    throw new BadRequestError(`${what} is longer than ${MAX_TOPIC_BYTES} UTF-8 bytes`)
  }
}
