import Foundation

extension ImageProbe {
    /// How many leading bytes name a format (`RIFF....WEBP` is the longest).
    public static let magicLength = 12

    /// The format named by the magic number of the first bytes alone — PNG, JPEG, WebP or GIF — even when the rest
    /// of the header is missing or malformed (where ``probe(_:)`` answers nil). Use it to name a file; use
    /// ``probe(_:)`` to trust one.
    public static func magicFormat(_ bytes: some Collection<UInt8>) -> ImageFormat? {
        let b = Array(bytes.prefix(magicLength))
        if b.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return .png }
        if b.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if b.count >= 12, b.starts(with: Array("RIFF".utf8)), b[8..<12].elementsEqual("WEBP".utf8) { return .webp }
        if b.starts(with: Array("GIF87a".utf8)) || b.starts(with: Array("GIF89a".utf8)) { return .gif }
        return nil
    }

    /// The format named by the magic number at the start of the file at `path` (see ``magicFormat(_:)``), or nil
    /// when the file cannot be read. Blocking file I/O: call it off the cooperative pool.
    public static func magicFormat(fileAt path: String) -> ImageFormat? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: magicLength) else { return nil }
        return magicFormat(data)
    }
}
