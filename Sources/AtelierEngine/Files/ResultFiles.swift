import AtelierCore
import AtelierImaging
import AtelierProviders
import Crypto
import Foundation

/// The layout of the data directory and the operations on image files.
///
/// ```
/// <data-dir>/atelier.sqlite                          the store (WAL)
/// <data-dir>/images/<t0t1>/<taskUUID>-<imageUUID>.<ext>   results; <t0t1> = the taskUUID's first two hex digits
/// <data-dir>/tmp/<attemptKey>-<index>.<ext>           scratch files of one provider call (flat)
/// <data-dir>/tmp/<attemptKey>/                       reference downloads of one attempt (only when it has URLs)
/// ```
///
/// The 256 fan-out directories and `tmp/` are created once, by ``prepare()``, so that storing a result is one
/// `rename` and no job creates a directory. Results stored by earlier versions under `images/<taskUUID>/` keep their
/// recorded paths.
///
/// Shared by several daemons (PostgreSQL mode: every daemon of a cluster names the same `--data-dir`), each daemon
/// writes its scratch files under `tmp/<daemonID>/` (``scratchRoot``), so no two daemons ever create the same path:
/// even when a job taken over from a daemon that was only slow is resumed with the same attempt key, the two
/// daemons' downloads land in different directories. A result's final name holds its taskUUID and imageUUID and is
/// made by one atomic `rename`; two daemons finishing the same job (the slow one's write is then refused by its lost
/// lease) can only replace one complete file by another complete file of the same image, never leave a torn one.
public struct ResultFiles: Sendable {
    /// The data directory.
    public let root: String
    /// The daemon whose scratch directory this is (nil: a lone daemon, scratch files directly in `tmp/`).
    public let daemonID: String?
    private let fileSync: ResultFileSync

    /// - Parameters:
    ///   - root: the data directory.
    ///   - daemonID: this daemon's id when the directory is shared by a cluster (its scratch files then live in
    ///     `tmp/<daemonID>/`).
    public init(root: String, daemonID: String? = nil) {
        self.root = root
        self.daemonID = daemonID.map(Self.safeName)
        self.fileSync = ResultFileSync(directory: root)
    }

    /// `id` with everything but letters, digits, `-`, `_` and `.` replaced (a directory name, never `..`).
    static func safeName(_ id: String) -> String {
        let kept = String(id.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") ? $0 : "_" })
        return kept.isEmpty || kept.allSatisfy({ $0 == "." }) ? "daemon" : kept
    }

    /// Returns once every result stored before the call is on disk, data and directory entry (one `syncfs` shared
    /// by all jobs finishing together; see ``ResultFileSync``). Called before the state change naming the files
    /// commits, when the store itself runs with `synchronous = FULL`. Suspends without blocking: the `syncfs` runs on
    /// NIO's thread pool.
    public func syncStored() async { await fileSync.sync() }

    /// `<root>/atelier.sqlite`
    public var databasePath: String { root + "/atelier.sqlite" }
    /// `<root>/images`
    public var imagesDirectory: String { root + "/images" }
    /// `<root>/tmp` (or `<root>/tmp/<daemonID>` in a cluster): the scratch directory every attempt writes its files
    /// into (names start with the attempt key).
    public var scratchRoot: String { daemonID.map { root + "/tmp/" + $0 } ?? root + "/tmp" }

    /// Scratch directories of other daemons older than this are removed at start (their daemons are long gone: a
    /// daemon's id is new at every start).
    static let staleScratchSeconds: TimeInterval = 24 * 3600

    /// Creates the directory tree (mode 0700), with the 256 fan-out directories of `images/`, and removes scratch
    /// files an earlier run left behind (a crash between a provider's write and the move into `images/`).
    public func prepare() throws {
        for d in [root, imagesDirectory, root + "/tmp", scratchRoot] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        for i in 0..<256 {
            let d = imagesDirectory + "/" + Self.fanOutName(i)
            if mkdir(d, 0o700) != 0 && errno != EEXIST {
                throw AtelierError(.storeFailure, "cannot create \(d) (errno \(errno))")
            }
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: scratchRoot)) ?? [] {
            try? FileManager.default.removeItem(atPath: scratchRoot + "/" + name)
        }
        if daemonID != nil { removeStaleScratch() }
    }

    /// In a cluster: removes other daemons' scratch directories untouched for ``staleScratchSeconds`` (a running
    /// daemon's directory changes with every attempt; one that has not changed for a day belongs to a daemon that
    /// stopped). Only directories: a lone daemon's flat files in `tmp/` are not touched.
    private func removeStaleScratch() {
        let tmp = root + "/tmp"
        let cutoff = Date().addingTimeInterval(-Self.staleScratchSeconds)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? [] where name != daemonID {
            let path = tmp + "/" + name
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path), attributes[.type] as? FileAttributeType == .typeDirectory,
                let modified = attributes[.modificationDate] as? Date, modified < cutoff
            else { continue }
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// Checks that this daemon can create, write, sync, rename and remove files where results go (a cluster's
    /// shared directory may be a read-only or full network file system): writes a small file in its scratch
    /// directory, moves it into `images/` with `rename` (the way every result is stored) and removes it. Blocking:
    /// call it at start, off the cooperative pool. Throws a message naming the directory and the failed step.
    public func checkWritable() throws(AtelierError) {
        let name = ".write-check-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let scratch = scratchRoot + "/" + name
        let target = fanOutDirectory(taskUUID: "00") + "/" + name
        func fail(_ step: String) -> AtelierError {
            AtelierError(.storeFailure, "the data directory \(root) is not writable by this daemon: \(step) failed (errno \(errno))")
        }
        let fd = open(scratch, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw fail("creating \(scratch)") }
        let bytes: [UInt8] = Array("atelier write check\n".utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced else {
            unlink(scratch)
            throw fail("writing \(scratch)")
        }
        guard rename(scratch, target) == 0 else {
            unlink(scratch)
            throw fail("renaming into \(imagesDirectory)")
        }
        guard unlink(target) == 0 else { throw fail("removing \(target)") }
    }

    static func fanOutName(_ i: Int) -> String {
        let digits: [Character] = Array("0123456789abcdef")
        return String([digits[i >> 4], digits[i & 15]])
    }

    /// The fan-out directory of a task: `images/<first two characters of its taskUUID>`.
    func fanOutDirectory(taskUUID: String) -> String {
        let prefix = taskUUID.utf8.count >= 2 ? String(taskUUID.prefix(2)).lowercased() : "00"
        return imagesDirectory + "/" + prefix
    }

    /// A scratch directory of its own for one attempt (reference downloads). Blocking (`mkdir`); most attempts never
    /// need one and write into ``scratchRoot``.
    public func scratchDirectory(attemptKey: String) throws -> String {
        let d = scratchRoot + "/" + attemptKey
        if mkdir(d, 0o700) != 0 && errno != EEXIST { throw AtelierError(.storeFailure, "cannot create \(d) (errno \(errno))") }
        return d
    }

    /// Removes a scratch directory and whatever is left in it.
    public func removeScratch(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Removes what an attempt left in the scratch directory, off the cooperative pool: its own directory if it made
    /// one (one failed `rmdir` when it did not) and, after a failed attempt, its flat files.
    public func removeScratch(attemptKey: String, failed: Bool) async {
        let root = scratchRoot
        _ = try? await FileWork.run { () throws(ProviderError) -> Void in
            let dir = root + "/" + attemptKey
            if rmdir(dir) != 0 && errno != ENOENT { try? FileManager.default.removeItem(atPath: dir) }
            guard failed else { return }
            for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where name.hasPrefix(attemptKey) {
                unlink(root + "/" + name)
            }
        }
    }

    /// Probes, hashes (unless the provider already did, while writing) and moves a provider's image into its final
    /// place with one `rename`, on NIO's thread pool; returns the stored result.
    /// Fails with `bad_upstream` when the bytes are not an image.
    public func store(
        _ image: GeneratedImage, taskUUID: String, imageUUID: String, seed: Int64?, seedHonored: Bool
    ) async throws(AtelierError) -> JobResult {
        let files = self
        let outcome: Result<JobResult, AtelierError>
        do {
            outcome = try await FileWork.run { () throws(ProviderError) -> Result<JobResult, AtelierError> in
                do throws(AtelierError) {
                    return .success(try files.storeBlocking(image, taskUUID: taskUUID, imageUUID: imageUUID, seed: seed, seedHonored: seedHonored))
                } catch {
                    return .failure(error)
                }
            }
        } catch {
            throw AtelierError(.storeFailure, "cannot store image: \(error.message)", retryable: true)
        }
        return try outcome.get()
    }

    /// ``store(_:taskUUID:imageUUID:seed:seedHonored:)`` on the calling thread (blocking).
    public func storeBlocking(
        _ image: GeneratedImage, taskUUID: String, imageUUID: String, seed: Int64?, seedHonored: Bool
    ) throws(AtelierError) -> JobResult {
        let info: ImageInfo?
        let digest: String
        let size: Int
        if let d = image.digest {
            info = d.info
            (digest, size) = (d.sha256, d.bytes)
        } else {
            info = ImageProbe.probe(fileAt: image.path)
            (digest, size) = info == nil ? ("", 0) : try Self.sha256(ofFileAt: image.path)
        }
        guard let info else {
            throw AtelierError(.badUpstream, "the provider returned data that is not a PNG, JPEG, WEBP or GIF image", retryable: true)
        }
        let ext: String
        switch info.mimeType {
        case "image/png": ext = "png"
        case "image/jpeg": ext = "jpg"
        case "image/webp": ext = "webp"
        case "image/gif": ext = "gif"
        default: ext = "bin"
        }
        let dir = fanOutDirectory(taskUUID: taskUUID)
        let final = dir + "/" + taskUUID + "-" + imageUUID + "." + ext
        // rename(2) replaces an existing target atomically; the fan-out directory exists after prepare(), and is made
        // here only for a data directory that was never prepared.
        var moved = rename(image.path, final) == 0
        if !moved && errno == ENOENT && access(image.path, F_OK) == 0 {
            mkdir(imagesDirectory, 0o700)
            mkdir(dir, 0o700)
            moved = rename(image.path, final) == 0
        }
        guard moved else {
            throw AtelierError(.storeFailure, "cannot store image (errno \(errno))", retryable: true)
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

    static func hex(_ digest: some Sequence<UInt8>) -> String { ImageDigest.hex(digest) }
}
