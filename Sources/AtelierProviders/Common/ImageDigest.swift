import AtelierImaging
import Crypto

/// What a provider learnt about an image file while writing it, so that the engine need not read it again:
/// its SHA-256, size and (when recognised) format and pixel size.
public struct ImageDigest: Sendable, Equatable {
    /// Lowercase hex SHA-256 of the file's bytes.
    public var sha256: String
    /// The file's size in bytes.
    public var bytes: Int
    /// Format and pixel size from the header, or nil when the bytes are not a recognised image.
    public var info: ImageInfo?
    /// The type named by the first bytes' magic number alone (``ImageProbe/magicFormat(_:)``: PNG, JPEG, WebP, GIF),
    /// even when the header is not complete.
    public var magicMIME: String?

    /// A digest from its parts.
    public init(sha256: String, bytes: Int, info: ImageInfo?, magicMIME: String? = nil) {
        self.sha256 = sha256
        self.bytes = bytes
        self.info = info
        self.magicMIME = magicMIME ?? info?.mimeType
    }

    /// The digest of bytes in memory.
    public init(of bytes: [UInt8]) {
        self.init(
            sha256: Self.hex(SHA256.hash(data: bytes)), bytes: bytes.count, info: ImageProbe.probe(bytes),
            magicMIME: ImageProbe.magicFormat(bytes)?.mimeType)
    }

    /// Lowercase hex of a digest.
    public static func hex(_ digest: some Sequence<UInt8>) -> String {
        let table: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in digest {
            out.append(table[Int(b >> 4)])
            out.append(table[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
