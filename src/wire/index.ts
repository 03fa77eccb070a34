export * from './frame.js'
export { FrameWriter, methodBytes } from './frame-writer.js'
export { FrameDecoder, MalformedFrameError, parseFrame } from './frame-decoder.js'
export { decodePayload, encodePayload } from './payload.js'
