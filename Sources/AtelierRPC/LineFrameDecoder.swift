import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A frame exceeded the configured limit; the connection is answered with an error and closed.
public struct FrameTooLargeError: Error, Sendable {
    /// The limit in bytes.
    public var limit: Int
}

/// Splits a byte stream into `\n`-terminated frames (a trailing `\r` is dropped), refusing any frame longer than
/// `maxFrameBytes` as soon as that many bytes have arrived without a newline — the rest is never buffered.
///
/// A partial frame left when the peer disconnects is discarded.
public struct LineFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = ByteBuffer

    /// The longest frame accepted, in bytes (excluding the newline).
    public let maxFrameBytes: Int
    private var scanned = 0

    public init(maxFrameBytes: Int) { self.maxFrameBytes = maxFrameBytes }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let readable = buffer.readableBytes
        let start = scanned
        // memchr over the unread bytes not yet scanned: far cheaper than a generic collection search.
        let found: Int? = buffer.withUnsafeReadableBytes { raw in
            guard start < raw.count, let base = raw.baseAddress,
                let hit = memchr(base + start, Int32(UInt8(ascii: "\n")), raw.count - start)
            else { return nil }
            return base.distance(to: UnsafeRawPointer(hit))
        }
        if let nl = found {
            var length = nl
            scanned = 0
            if length > maxFrameBytes { throw FrameTooLargeError(limit: maxFrameBytes) }
            var frame = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            if length > 0, frame.getInteger(at: frame.readerIndex + length - 1, as: UInt8.self) == UInt8(ascii: "\r") {
                length -= 1
                frame = frame.getSlice(at: frame.readerIndex, length: length)!
            }
            context.fireChannelRead(Self.wrapInboundOut(frame))
            return .continue
        }
        scanned = readable
        if readable > maxFrameBytes { throw FrameTooLargeError(limit: maxFrameBytes) }
        return .needMoreData
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        // Whatever is left is an unterminated frame from a peer that went away: drop it.
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .needMoreData
    }
}
