import { describe, expect, it } from 'vitest'
import { checkTopic, compilePattern, KEY_ANY, MAX_TOPIC_BYTES, topicKey } from '../../src/pubsub/topic.js'

/** The matching table of docs/pubsub.md: pattern, topics it matches, topics it does not. */
const TABLE: Array<[pattern: string, matches: string[], misses: string[]]> = [
  ['sensors/temp', ['sensors/temp'], ['sensors', 'sensors/temp/x', 'sensors/Temp', 'sensors/temp/']],
  ['sensors/*', ['sensors/temp', 'sensors/', 'sensors/a*b'], ['sensors', 'sensors/temp/kitchen', 'other/temp']],
  ['sensors/*/temp', ['sensors/kitchen/temp', 'sensors//temp'], ['sensors/temp', 'sensors/a/b/temp', 'sensors/kitchen/temp/x']],
  ['sensors/**', ['sensors', 'sensors/', 'sensors/temp', 'sensors/a/b/c'], ['sensorsx', 'other/sensors', 'sensor']],
  ['*', ['a', 'sensors', 'a*'], ['a/b', '/', 'a/']],
  ['**', ['a', 'a/b', '/', '//x', 'a/b/c/d'], []],
  ['*/temp', ['kitchen/temp', '/temp'], ['temp', 'a/b/temp']],
  ['*/**', ['a', 'a/b', '/'], []],
  ['/a', ['/a'], ['a', '//a']],
  ['a//b', ['a//b'], ['a/b', 'a/x/b']],
  ['a/', ['a/'], ['a', 'a//']],
  // a `*` that is not a whole level is an ordinary character
  ['a*', ['a*'], ['a', 'ab', 'a*/b']],
  ['a/b*', ['a/b*'], ['a/b', 'a/bc']],
  ['a/**x', ['a/**x'], ['a/b', 'a/x']]
]

describe('patterns', () => {
  for (const [pattern, matches, misses] of TABLE) {
    it(`${pattern} matches exactly what the doc says`, () => {
      const p = compilePattern(pattern)
      for (const topic of matches) expect(p.matches(topic), `${pattern} should match ${topic}`).toBe(true)
      for (const topic of misses) expect(p.matches(topic), `${pattern} should not match ${topic}`).toBe(false)
    })
  }

  it('keys a pattern by its first level, or * when that level is a wildcard', () => {
    expect(compilePattern('sensors/*/temp').key).toBe('sensors')
    expect(compilePattern('*/temp').key).toBe(KEY_ANY)
    expect(compilePattern('**').key).toBe(KEY_ANY)
    expect(compilePattern('/a').key).toBe('')
    expect(compilePattern('a*/b').key).toBe('a*')
    // every topic a pattern matches has the pattern's key as its own first level (or the pattern is under *)
    for (const [pattern, matches] of TABLE) {
      const p = compilePattern(pattern)
      for (const topic of matches) expect([topicKey(topic), KEY_ANY]).toContain(p.key)
    }
  })

  it('refuses ** anywhere but the last level, and malformed text, with MESH_ERR_BAD_REQUEST', () => {
    for (const bad of ['**/a', 'a/**/b', '', 'a\uD800b', 'x'.repeat(MAX_TOPIC_BYTES + 1), 'é'.repeat(MAX_TOPIC_BYTES / 2 + 1)]) {
      expect(() => compilePattern(bad), JSON.stringify(bad.slice(0, 20))).toThrow(expect.objectContaining({ code: 'MESH_ERR_BAD_REQUEST' }))
    }
    for (const notText of [undefined, 3, null, ['a']]) {
      expect(() => compilePattern(notText as unknown as string)).toThrow(expect.objectContaining({ code: 'MESH_ERR_BAD_REQUEST' }))
    }
    expect(compilePattern('x'.repeat(MAX_TOPIC_BYTES)).exact).toBe(true)
  })
})

describe('topics', () => {
  it('accepts empty levels and a * inside a level', () => {
    for (const topic of ['a', '/', 'a//b', '/a/', 'a*', 'a/b**', 'ünïcødé/温度', 'x'.repeat(MAX_TOPIC_BYTES)]) expect(() => { checkTopic(topic) }).not.toThrow()
  })

  it('refuses wildcard levels, empty and malformed topics with MESH_ERR_BAD_REQUEST', () => {
    for (const bad of ['*', 'a/*', '**', 'a/**', '*/a', '', 'a\uDC00', 'x'.repeat(MAX_TOPIC_BYTES + 1), 42]) {
      expect(() => { checkTopic(bad as string) }, String(bad).slice(0, 20)).toThrow(expect.objectContaining({ code: 'MESH_ERR_BAD_REQUEST' }))
    }
  })

  it('keys a topic by its first level', () => {
    expect(topicKey('a/b/c')).toBe('a')
    expect(topicKey('a')).toBe('a')
    expect(topicKey('/a')).toBe('')
  })
})
