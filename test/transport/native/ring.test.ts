import { describe, expect, it } from 'vitest'
import { RingCorruptError } from '../../../src/errors.js'
import {
  formatRing, maxRecordSize, RING_HEADER_SIZE, RingOffset, RingReader, RingWriter, ringByteLength, recordSize, WakeKind, WRAP_MARKER
} from '../../../src/transport/native/ring.js'

function ring (capacity = 1024, offset = 0): { buffer: ArrayBuffer, writer: RingWriter, reader: RingReader, words: Uint32Array } {
  const buffer = new ArrayBuffer(offset + ringByteLength(capacity))
  formatRing(buffer, offset, capacity)
  return { buffer, writer: new RingWriter(buffer, offset, capacity), reader: new RingReader(buffer, offset, capacity), words: new Uint32Array(buffer, offset) }
}

function record (seq: number, length: number): Uint8Array {
  const r = new Uint8Array(length)
  for (let i = 0; i < length; i++) r[i] = (seq * 7 + i) & 0xff
  return r
}

describe('SPSC ring on an ArrayBuffer', () => {
  it('delivers records in order with their exact bytes', () => {
    const { writer, reader } = ring()
    const sent = [0, 1, 3, 4, 5, 7, 8, 9, 100].map((len, i) => record(i, len))
    for (const r of sent) expect(writer.write(r)).toBe(true)
    expect(reader.read()).toEqual(sent)
    expect(reader.read()).toEqual([])
  })

  it('wraps around the end of the data area many times', () => {
    const { writer, reader } = ring(1024)
    const got: Uint8Array[] = []
    const sent: Uint8Array[] = []
    for (let i = 0; i < 2000; i++) {
      const r = record(i, (i * 37) % 300)
      expect(writer.write(r)).toBe(true)
      sent.push(r)
      if (i % 3 === 2) got.push(...reader.read())
    }
    got.push(...reader.read())
    expect(got).toEqual(sent)
  })

  it('refuses a record when full and accepts it once the reader frees space', () => {
    const { writer, reader } = ring(1024)
    let written = 0
    while (writer.write(record(written, 60))) written++
    expect(written).toBe(1024 / recordSize(60))
    expect(writer.freeBytes()).toBe(0)
    expect(reader.read(1)).toEqual([record(0, 60)])
    expect(writer.write(record(written, 60))).toBe(true)
    const rest = reader.read()
    expect(rest).toHaveLength(written)
    expect(rest[rest.length - 1]).toEqual(record(written, 60))
  })

  it('writes a batch with one publish and reports how many fit', () => {
    const { writer, reader, words } = ring(1024)
    const batch = Array.from({ length: 40 }, (_, i) => record(i, 50))
    const headBefore = words[RingOffset.HEAD >> 2]
    const n = writer.writeBatch(batch)
    expect(n).toBe(Math.floor(1024 / recordSize(50)))
    expect(words[RingOffset.HEAD >> 2] - headBefore).toBe(n * recordSize(50))
    expect(reader.read()).toEqual(batch.slice(0, n))
    const got: Uint8Array[] = []
    for (let done = n, rounds = 0; done < batch.length && rounds < 10; rounds++) {
      done += writer.writeBatch(batch, done)
      got.push(...reader.read())
    }
    expect(got).toEqual(batch.slice(n))
  })

  it('drains in bounded batches and publishes the tail once per drain', () => {
    const { writer, reader, words } = ring(4096)
    for (let i = 0; i < 30; i++) writer.write(record(i, 10))
    const seen: number[] = []
    expect(reader.drain(r => seen.push(r[0]), 8)).toBe(8)
    expect(words[RingOffset.TAIL >> 2]).toBe(8 * recordSize(10))
    expect(reader.drain(r => seen.push(r[0]), 100)).toBe(22)
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => record(i, 1)[0]))
  })

  it('drains without allocating: the record as (data area, offset, length)', () => {
    const { writer, reader } = ring()
    writer.writeBatch([record(1, 5), record(2, 0), record(3, 9)])
    const got: Uint8Array[] = []
    let area: Uint8Array | undefined
    expect(reader.drainRaw((bytes, offset, length) => {
      area ??= bytes
      expect(bytes).toBe(area)
      expect(offset + length).toBeLessThanOrEqual(bytes.byteLength)
      got.push(bytes.slice(offset, offset + length))
    })).toBe(3)
    expect(got).toEqual([record(1, 5), record(2, 0), record(3, 9)])
  })

  it('keeps claimed records invisible until publish', () => {
    const { writer, reader } = ring()
    const view = writer.claim(5)!
    view.set([1, 2, 3, 4, 5])
    expect(reader.hasData()).toBe(false)
    writer.publish()
    expect(reader.hasData()).toBe(true)
    expect(reader.read()).toEqual([new Uint8Array([1, 2, 3, 4, 5])])
  })

  it('accepts the largest record at any head position and refuses a larger one', () => {
    const capacity = 1024
    const max = maxRecordSize(capacity)
    for (let shift = 0; shift < capacity; shift += 8 * 13) {
      const { writer, reader } = ring(capacity)
      for (let left = shift; left > 0; left -= 256) {
        expect(writer.write(new Uint8Array(Math.min(left, 256) - 4))).toBe(true)
        reader.read()
      }
      expect(writer.write(record(1, max))).toBe(true)
      expect(reader.read()).toEqual([record(1, max)])
    }
    const { writer } = ring(capacity)
    expect(() => writer.claim(max + 1)).toThrow(RangeError)
  })

  it('counts a record as consumed when the visitor throws on it', () => {
    const { writer, reader } = ring()
    for (let i = 0; i < 3; i++) writer.write(record(i, 4))
    expect(() => reader.drain(r => { if (r[0] === record(1, 1)[0]) throw new Error('boom') })).toThrow('boom')
    expect(reader.read()).toEqual([record(2, 4)])
  })

  it('resumes from the published indices when a side re-attaches', () => {
    const { buffer, writer } = ring(1024, 64)
    writer.write(record(1, 10))
    const reader = new RingReader(buffer, 64, 1024)
    expect(reader.read()).toEqual([record(1, 10)])
    const writer2 = new RingWriter(buffer, 64, 1024)
    writer2.write(record(2, 10))
    expect(reader.read()).toEqual([record(2, 10)])
  })

  it('validates placement and capacity', () => {
    expect(() => formatRing(new ArrayBuffer(2048), 0, 1000)).toThrow(RangeError)
    expect(() => formatRing(new ArrayBuffer(2048), 4, 1024)).toThrow(RangeError)
    expect(() => formatRing(new ArrayBuffer(1024), 0, 1024)).toThrow(RangeError)
    expect(() => new RingReader(new ArrayBuffer(ringByteLength(1024)), 0, 1024)).toThrow(RingCorruptError)
  })

  describe('wake-up protocol', () => {
    it('a writer wakes a sleeping reader exactly once', () => {
      const { writer, reader } = ring()
      expect(reader.prepareSleep(WakeKind.DOORBELL)).toBe(true)
      writer.write(record(1, 1))
      expect(writer.takeReaderWake()).toBe(WakeKind.DOORBELL)
      writer.write(record(2, 1))
      expect(writer.takeReaderWake()).toBe(WakeKind.NONE)
    })

    it('a reader that finds data while preparing to sleep stays awake', () => {
      const { writer, reader } = ring()
      writer.write(record(1, 1))
      expect(reader.prepareSleep(WakeKind.FUTEX)).toBe(false)
      expect(writer.takeReaderWake()).toBe(WakeKind.NONE)
    })

    it('a futex sleeper is reported as such, with the seq word offset', () => {
      const { writer, reader } = ring(1024, 128)
      expect(reader.prepareSleep(WakeKind.FUTEX)).toBe(true)
      writer.write(record(1, 1))
      expect(writer.takeReaderWake()).toBe(WakeKind.FUTEX)
      expect(writer.readerSeqOffset).toBe(128 + RingOffset.READER_SEQ)
      expect(reader.seqOffset).toBe(128 + RingOffset.READER_SEQ)
    })

    it('a reader that frees space wakes a waiting writer once', () => {
      const { writer, reader } = ring(1024)
      while (writer.write(record(0, 100)));
      expect(writer.prepareWait(100, WakeKind.DOORBELL)).toBe(true)
      expect(reader.drain(() => {}, 1)).toBe(1)
      expect(reader.takeWriterWake()).toBe(WakeKind.DOORBELL)
      expect(reader.takeWriterWake()).toBe(WakeKind.NONE)
      expect(writer.write(record(0, 100))).toBe(true)
    })

    it('a writer that finds room while announcing its wait withdraws it', () => {
      const { writer, reader } = ring(1024)
      writer.write(record(0, 100))
      expect(writer.prepareWait(100, WakeKind.DOORBELL)).toBe(false)
      reader.read()
      expect(reader.takeWriterWake()).toBe(WakeKind.NONE)
    })
  })

  describe('validation', () => {
    it('rejects a bad magic, version or capacity on every call, and latches', () => {
      for (const [offset, value, field] of [[RingOffset.MAGIC, 1, 'magic'], [RingOffset.VERSION, 9, 'version'], [RingOffset.CAPACITY, 2048, 'capacity']] as const) {
        const { writer, reader, words } = ring()
        writer.write(record(1, 4))
        words[offset >> 2] = value
        expect(() => reader.read()).toThrow(expect.objectContaining({ name: 'RingCorruptError', field }))
        expect(() => writer.write(record(2, 4))).toThrow(RingCorruptError)
        words[offset >> 2] = offset === RingOffset.MAGIC ? 0x474e524b : offset === RingOffset.VERSION ? 1 : 1024
        expect(() => reader.read()).toThrow(RingCorruptError)
        expect(reader.corrupt).toBe(true)
      }
    })

    it('rejects a head that is misaligned, too far ahead or moving backwards', () => {
      for (const head of [4, 1032, 0xfffffff8]) {
        const { reader, words } = ring()
        words[RingOffset.HEAD >> 2] = head
        expect(() => reader.read()).toThrow(expect.objectContaining({ field: 'head' }))
      }
      const { writer, reader, words } = ring()
      writer.write(record(1, 4))
      expect(reader.hasData()).toBe(true)
      words[RingOffset.HEAD >> 2] = 0
      expect(() => reader.read()).toThrow(expect.objectContaining({ field: 'head' }))
    })

    it('rejects a tail that is misaligned or outside [last tail, head]', () => {
      for (const tail of [4, 24, 0xfffffff8]) {
        const { writer, words } = ring()
        writer.write(record(1, 4))
        words[RingOffset.TAIL >> 2] = tail
        expect(() => writer.freeBytes()).toThrow(expect.objectContaining({ field: 'tail' }))
      }
    })

    it('rejects record lengths that exceed the published bytes, the ring end or the maximum', () => {
      const cases: Array<[number, number]> = [[0, 100], [0, maxRecordSize(1024) + 1], [0, 0x7fffffff], [0, WRAP_MARKER]]
      for (const [pos, len] of cases) {
        const { writer, reader, words } = ring()
        writer.write(record(1, 12))
        words[(RING_HEADER_SIZE + pos) >> 2] = len
        expect(() => reader.read()).toThrow(expect.objectContaining({ field: 'record' }))
      }
    })

    it('rejects a wake flag with an unknown value', () => {
      const { writer, words } = ring()
      words[RingOffset.READER_SLEEP >> 2] = 7
      writer.write(record(1, 1))
      expect(() => writer.takeReaderWake()).toThrow(expect.objectContaining({ field: 'flag' }))
    })
  })
})
