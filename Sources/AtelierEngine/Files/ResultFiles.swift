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

/// Loads a task's reference images into memory, checked against the model's limits.
public struct ReferenceLoader: Sendable {
    /// Used for http(s) references.
    public let transport: any HTTPTransport
    /// Where downloads are staged.
    public let files: ResultFiles

    public init(transport: any HTTPTransport, files: ResultFiles) {
        self.transport = transport
        self.files = files
    }

    /// Checks what can be checked at submit without network access: files exist, are readable and small enough;
    /// inline base64 decodes.
    public static func precheck(_ refs: [ReferenceImage], maxBytes: Int) throws(AtelierError) {
        for (i, r) in refs.enumerated() {
            let field = "/referenceImages/\(i)"
            switch r {
            case .file(let path):
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
                    throw AtelierError(.invalidReferenceImage, "no such file: \(path)", field: field)
                }
                guard FileManager.default.isReadableFile(atPath: path) else {
                    throw AtelierError(.invalidReferenceImage, "file is not readable by the daemon: \(path)", field: field)
                }
                let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
                if size > maxBytes {
                    throw AtelierError(.invalidReferenceImage, "file is \(size) bytes; at most \(maxBytes)", field: field)
                }
                if ImageProbe.probe(fileAt: path) == nil {
                    throw AtelierError(.invalidReferenceImage, "file is not a PNG, JPEG, WEBP or GIF image: \(path)", field: field)
                }
            case .dataURI(_, let b64), .base64(let b64):
                guard let data = Data(base64Encoded: b64, options: .ignoreUnknownCharacters) else {
                    throw AtelierError(.invalidReferenceImage, "invalid base64", field: field)
                }
                if data.count > maxBytes { throw AtelierError(.invalidReferenceImage, "image is \(data.count) bytes; at most \(maxBytes)", field: field) }
                if ImageProbe.probe(Array(data)) == nil {
                    throw AtelierError(.invalidReferenceImage, "data is not a PNG, JPEG, WEBP or GIF image", field: field)
                }
            case .url:
                break
            }
        }
    }

    /// Loads every reference of `task` for `model`.
    public func load(_ task: ImageTask, model: ModelCard, attemptKey: String, timeoutSeconds: Double) async throws(AtelierError) -> [LoadedReference] {
        var out: [LoadedReference] = []
        for (i, r) in task.referenceImages.enumerated() {
            let field = "/referenceImages/\(i)"
            var bytes: [UInt8]
            var source: String? = nil
            switch r {
            case .file(let path):
                guard let d = FileManager.default.contents(atPath: path) else {
                    throw AtelierError(.invalidReferenceImage, "cannot read \(path)", field: field)
                }
                bytes = Array(d)
            case .dataURI(_, let b64), .base64(let b64):
                guard let d = Data(base64Encoded: b64, options: .ignoreUnknownCharacters) else {
                    throw AtelierError(.invalidReferenceImage, "invalid base64", field: field)
                }
                bytes = Array(d)
            case .url(let url):
                source = url
                let dir: String
                do { dir = try files.scratchDirectory(attemptKey: attemptKey) } catch {
                    throw AtelierError(.storeFailure, "cannot create scratch directory")
                }
                let path = dir + "/ref-\(i)"
                do {
                    _ = try await transport.download(
                        HTTPRequest(method: "GET", url: url, timeoutSeconds: timeoutSeconds), to: path, maxBytes: model.maxReferenceImageBytes)
                } catch {
                    throw AtelierError(.invalidReferenceImage, "cannot fetch \(URLCheck.redacted(url)): \(error.message)", field: field)
                }
                bytes = Array(FileManager.default.contents(atPath: path) ?? Data())
                try? FileManager.default.removeItem(atPath: path)
            }
            if bytes.count > model.maxReferenceImageBytes {
                throw AtelierError(
                    .invalidReferenceImage, "reference image is \(bytes.count) bytes; \(model.id) accepts at most \(model.maxReferenceImageBytes)",
                    field: field)
            }
            guard let info = ImageProbe.probe(bytes) else {
                throw AtelierError(.invalidReferenceImage, "not a PNG, JPEG, WEBP or GIF image", field: field)
            }
            out.append(
                LoadedReference(
                    data: bytes, mimeType: info.mimeType, width: info.width, height: info.height, sha256: ResultFiles.sha256(bytes),
                    sourceURL: source))
        }
        return out
    }
}
