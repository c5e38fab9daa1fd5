import AtelierCore
import AtelierImaging
import AtelierProviders
import Crypto
import Foundation

/// The layout of the data directory and the operations on image files.
///
/// ```
/// <data-dir>/atelier.sqlite            the store (WAL)
/// <data-dir>/images/<taskUUID>/<imageUUID>.<ext>
/// <data-dir>/tmp/<attemptKey>/         scratch files of one provider call
/// ```
public struct ResultFiles: Sendable {
    /// The data directory.
    public let root: String

    public init(root: String) { self.root = root }

    /// `<root>/atelier.sqlite`
    public var databasePath: String { root + "/atelier.sqlite" }
    /// `<root>/images`
    public var imagesDirectory: String { root + "/images" }

    /// Creates the directory tree (mode 0700).
    public func prepare() throws {
        for d in [root, imagesDirectory, root + "/tmp"] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
    }

    /// A fresh scratch directory for one attempt.
    public func scratchDirectory(attemptKey: String) throws -> String {
        let d = root + "/tmp/" + attemptKey
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return d
    }

    /// Removes a scratch directory and whatever is left in it.
    public func removeScratch(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Hashes, probes and moves a provider's image into its final place, returning the stored result.
    /// Fails with `bad_upstream` when the bytes are not an image.
    public func store(
        _ image: GeneratedImage, taskUUID: String, imageUUID: String, seed: Int64?, seedHonored: Bool
    ) throws(AtelierError) -> JobResult {
        guard let info = ImageProbe.probe(fileAt: image.path) else {
            throw AtelierError(.badUpstream, "the provider returned data that is not a PNG, JPEG, WEBP or GIF image", retryable: true)
        }
        let (digest, size) = try Self.sha256(ofFileAt: image.path)
        let dir = imagesDirectory + "/" + taskUUID
        let ext: String
        switch info.mimeType {
        case "image/png": ext = "png"
        case "image/jpeg": ext = "jpg"
        case "image/webp": ext = "webp"
        case "image/gif": ext = "gif"
        default: ext = "bin"
        }
        let final = dir + "/" + imageUUID + "." + ext
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            if FileManager.default.fileExists(atPath: final) { try FileManager.default.removeItem(atPath: final) }
            try FileManager.default.moveItem(atPath: image.path, toPath: final)
        } catch {
            throw AtelierError(.storeFailure, "cannot store image: \(error.localizedDescription)", retryable: true)
        }
        return JobResult(
            imageUUID: imageUUID, path: final, mimeType: info.mimeType, width: info.width, height: info.height, bytes: size, sha256: digest,
            seed: seed, seedHonored: seedHonored, costUSD: image.costUSD, note: image.note)
    }

    /// Lowercase hex SHA-256 and size of a file, read in 1 MiB chunks.
    public static func sha256(ofFileAt path: String) throws(AtelierError) -> (String, Int) {
        guard let h = FileHandle(forReadingAtPath: path) else { throw AtelierError(.storeFailure, "cannot read \(path)") }
        defer { try? h.close() }
        var hasher = SHA256()
        var total = 0
        while true {
            let chunk: Data
            do { chunk = try h.read(upToCount: 1 << 20) ?? Data() } catch { throw AtelierError(.storeFailure, "cannot read \(path)") }
            if chunk.isEmpty { break }
            total += chunk.count
            hasher.update(data: chunk)
        }
        return (hex(hasher.finalize()), total)
    }

    /// Lowercase hex SHA-256 of bytes.
    public static func sha256(_ bytes: [UInt8]) -> String { hex(SHA256.hash(data: bytes)) }

    static func hex(_ digest: some Sequence<UInt8>) -> String {
        let table = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in digest {
            out.append(table[Int(b >> 4)])
            out.append(table[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
