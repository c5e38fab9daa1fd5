/// Why ``Base64TolerantDecoder`` rejected its input.
public enum Base64DecodingError: Error, Sendable, Equatable {
    /// A byte that is neither in the standard or URL-safe alphabet, `=`, nor whitespace.
    /// `offset` counts input bytes from the start of the stream.
    case invalidCharacter(byte: UInt8, offset: Int)
    /// `=` appeared where padding is not allowed, or data followed the padding.
    case invalidPadding(offset: Int)
    /// The stream ended inside a quantum that cannot encode whole bytes (a single trailing
    /// character, or an incomplete `=` padding run).
    case truncatedInput
}
