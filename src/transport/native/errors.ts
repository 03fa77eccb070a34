import { MeshError } from '../../errors.js'
import type { MeshErrorOptions } from '../../errors.js'

/** Code of {@link RingCorruptError}. (Local to the native layer; not in `ErrorCode` because it never crosses the wire.) */
export const RING_CORRUPT = 'MESH_ERR_RING_CORRUPT'

/** The field of a shared-memory ring or region that failed validation. */
export type RingField = 'magic' | 'version' | 'capacity' | 'state' | 'size' | 'head' | 'tail' | 'record' | 'flag'

/**
 * A shared-memory ring (or the region holding it) failed validation: a header field, an index or a
 * record length is impossible. The ring is marked corrupt and every later operation throws this
 * again; the link should be closed and its calls moved to QUIC. Never retryable on the same ring.
 */
export class RingCorruptError extends MeshError {
  override name = 'RingCorruptError'
  /** What failed validation. */
  readonly field: RingField
  constructor (field: RingField, message: string, options?: MeshErrorOptions) {
    super(RING_CORRUPT, `shared-memory ring corrupt (${field}): ${message}`, options)
    this.field = field
  }
}
