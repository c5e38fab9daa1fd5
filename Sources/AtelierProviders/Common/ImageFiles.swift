import AtelierCore
import AtelierImaging
import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Writes provider image payloads into the scratch directory.
public enum ImageFiles {
    /// Base64 characters decoded between two SHA-256 updates (the decoded block is still in the cache when hashed).
    public static let chunkCharacters = 64 * 1024

    /// The file for image `index` of an attempt: `<scratch>/<attemptKey>-<index>.<ext>`.
    public static func path(scratchDirectory: String, attemptKey: String, index: Int, fileExtension: String) -> String {
        let name = "\(attemptKey)-\(index).\(fileExtension)"
        return scratchDirectory.hasSuffix("/") ? scratchDirectory + name : scratchDirectory + "/" + name
    }

    /// The file extension for a MIME type (`png` when unknown).
    public static func fileExtension(forMIME mime: String) -> String {
        OutputFormat(mimeType: mime)?.fileExtension ?? "png"
    }

    /// Decodes `base64` (standard or URL-safe alphabet, optional `data:…;base64,` prefix, line breaks and missing
    /// padding tolerated) into a new file at `path`. Returns the number of bytes written.
    ///
    /// Blocking: call it on a thread that may block (``writeBase64(_:range:to:)`` and ``writeBase64(text:to:)`` do
    /// so off the cooperative pool). Malformed base64 is `bad_upstream`; an empty payload is `no_image`; a local
    /// write failure is `unavailable`.
    @discardableResult
    public static func writeBase64<S: StringProtocol>(_ base64: S, to path: String) throws(ProviderError) -> Int {
        var text = Array(base64.utf8)
        return try text.withUnsafeMutableBufferPointer { (buffer) throws(ProviderError) -> Int in
            try writeDecoding(buffer, to: path).bytes
        }
    }

    /// Decodes the base64 text at `range` of `body` in place (no copy of the text), hashing each decoded block while
    /// it is in the cache, and writes the image with one write, on NIO's thread pool. `body` must not be used again.
    public static func writeBase64(_ body: OwnedBytes, range: Range<Int>, to path: String) async throws(ProviderError) -> ImageDigest {
        try await FileWork.run { () throws(ProviderError) -> ImageDigest in
            guard range.lowerBound >= 0, range.upperBound <= body.bytes.count else {
                throw ProviderError(.badUpstream, "the image payload lies outside the response")
            }
            return try body.bytes.withUnsafeMutableBufferPointer { (all) throws(ProviderError) -> ImageDigest in
                try writeDecoding(UnsafeMutableBufferPointer(rebasing: all[range]), to: path)
            }
        }
    }

    /// ``writeBase64(_:to:)`` on NIO's thread pool, returning the digest as well.
    public static func writeBase64(text: String, to path: String) async throws(ProviderError) -> ImageDigest {
        try await FileWork.run { () throws(ProviderError) -> ImageDigest in
            var bytes = Array(text.utf8)
            return try bytes.withUnsafeMutableBufferPointer { (buffer) throws(ProviderError) -> ImageDigest in
                try writeDecoding(buffer, to: path)
            }
        }
    }

    /// Writes bytes already in memory into a new file at `path`, on NIO's thread pool, returning their digest.
    public static func write(_ bytes: [UInt8], to path: String) async throws(ProviderError) -> ImageDigest {
        try await FileWork.run { () throws(ProviderError) -> ImageDigest in
            try bytes.withUnsafeBufferPointer { (buffer) throws(ProviderError) -> Void in try writeFile(buffer, to: path) }
            return ImageDigest(of: bytes)
        }
    }

    /// The decoding core: `text` (base64, possibly behind a data-URI prefix) is decoded into its own memory, hashed in
    /// the same pass, probed from its first bytes and written with one `write` loop. Blocking.
    static func writeDecoding(_ text: UnsafeMutableBufferPointer<UInt8>, to path: String) throws(ProviderError) -> ImageDigest {
        var payload = text
        if payload.count >= 5, payload[0] == 0x64, payload[1] == 0x61, payload[2] == 0x74, payload[3] == 0x61, payload[4] == 0x3A {  // "data:"
            guard let comma = payload.firstIndex(of: 0x2C) else { throw ProviderError(.badUpstream, "malformed data URI in the image payload") }
            payload = UnsafeMutableBufferPointer(rebasing: payload[(comma + 1)...])
        }
        var hasher = SHA256()
        let count: Int
        do {
            count = try Base64TolerantDecoder.decodeInPlace(payload, blockCharacters: chunkCharacters) { block in
                hasher.update(bufferPointer: UnsafeRawBufferPointer(block))
            }
        } catch {
            switch error {
            case .truncatedInput: throw ProviderError(.badUpstream, "the image payload is not valid base64 (truncated)")
            case .invalidPadding: throw ProviderError(.badUpstream, "the image payload is not valid base64 (misplaced padding)")
            case .invalidCharacter(let byte, let offset):
                throw ProviderError(.badUpstream, "the image payload is not valid base64 (byte 0x\(String(byte, radix: 16)) at \(offset))")
            }
        }
        if count == 0 { throw ProviderError(.noImage, "the provider returned an empty image") }
        let decoded = UnsafeBufferPointer(rebasing: payload[0..<count])
        let digest = ImageDigest(
            sha256: ImageDigest.hex(hasher.finalize()), bytes: count, info: ImageProbe.probe(decoded),
            magicMIME: ImageProbe.magicFormat(decoded)?.mimeType)
        let direct = count >= directWriteMinimum ? try writeFileDirect(payload, count: count, to: path) : false
        if !direct { try writeFile(UnsafeBufferPointer(rebasing: payload[0..<count]), to: path) }
        return digest
    }

    /// Images at least this large are written with `O_DIRECT` where the file system allows it.
    static let directWriteMinimum = 64 * 1024

    /// `O_DIRECT` (declared by glibc only under `_GNU_SOURCE`); nil where its value is not known.
    static let oDirect: Int32? = {
        #if os(Linux) && arch(x86_64)
            return 0o40000
        #elseif os(Linux) && arch(arm64)
            return 0o200000
        #else
            return nil
        #endif
    }()

    /// Writes the first `count` bytes of `buffer` with `O_DIRECT`: the disk takes them by DMA from this memory, so
    /// the kernel neither copies them into the page cache nor has them dirty for the next sync (on this class of VM
    /// the page-cache copy of a fresh 1.5 MB file cost 2.5 ms of CPU; the direct write about 0.5 ms). The bytes are
    /// first moved to a 4 KiB-aligned address inside `buffer` (the base64 text it was decoded from is a third larger,
    /// so there is room). Returns false, having written nothing that stays, when the file system refuses direct I/O
    /// (tmpfs, …) or the buffer has no room; the caller then writes through the page cache.
    static func writeFileDirect(_ buffer: UnsafeMutableBufferPointer<UInt8>, count: Int, to path: String) throws(ProviderError) -> Bool {
        guard oDirect != nil, let base = buffer.baseAddress else { return false }
        let block = AlignedBytes.block
        let address = Int(bitPattern: base)
        let shift = (block - address % block) % block
        guard shift + count <= buffer.count else { return false }
        if shift > 0 { memmove(base + shift, base, count) }
        if try writeDirect(UnsafePointer(base + shift), count: count, to: path) { return true }
        if shift > 0 { memmove(base, base + shift, count) }
        return false
    }

    /// Writes `count` bytes from the 4 KiB-aligned `aligned` into a new file at `path`: the whole blocks with
    /// `O_DIRECT`, in one `write`, then the last partial block (if any) through the page cache on the same descriptor
    /// once `O_DIRECT` is cleared (`fcntl(F_SETFL)`), so the file needs no cut afterwards. Returns false, having left
    /// nothing behind, when the file system refuses direct I/O; throws when the disk does.
    static func writeDirect(_ aligned: UnsafePointer<UInt8>, count: Int, to path: String) throws(ProviderError) -> Bool {
        guard let oDirect else { return false }
        let block = AlignedBytes.block
        let whole = count / block * block
        guard whole > 0 else { return false }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | oDirect, 0o600)
        guard fd >= 0 else {
            if errno == EINVAL { return false }
            throw ProviderError(.storeFailure, "cannot create the image file (errno \(errno))")
        }
        func fail(_ what: String, _ e: Int32) -> ProviderError {
            close(fd)
            unlink(path)
            return ProviderError(.storeFailure, "cannot write the image file (errno \(e)\(what))")
        }
        var offset = 0
        while offset < whole {
            let n = Glibc.write(fd, aligned + offset, whole - offset)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 || n % block != 0 {
                // Direct I/O refused (alignment rules of this device) or a short write: start again buffered.
                let e = errno
                close(fd)
                unlink(path)
                if n < 0 && e != EINVAL { throw ProviderError(.storeFailure, "cannot write the image file (errno \(e))") }
                return false
            }
            offset += n
        }
        if whole < count {
            let flags = fcntl(fd, F_GETFL)
            guard flags >= 0, fcntl(fd, F_SETFL, flags & ~oDirect) == 0 else { throw fail(" clearing O_DIRECT", errno) }
            while offset < count {
                let n = Glibc.write(fd, aligned + offset, count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw fail("", errno)
                }
                offset += n
            }
        }
        if close(fd) != 0 && errno != EINTR {
            unlink(path)
            throw ProviderError(.storeFailure, "cannot write the image file (errno \(errno) at close)")
        }
        return true
    }

    /// Writes an image already decoded into aligned memory and hashed while it was decoded (``Base64JSONLift``) into
    /// a new file at `path`, on NIO's thread pool: probed there, then written with one direct `write` of its whole
    /// blocks (``writeDirect(_:count:to:)``) or, when small or refused, through the page cache. `image` must not be
    /// used again.
    public static func write(decoded image: AlignedBytes, sha256: SHA256.Digest, to path: String) async throws(ProviderError) -> ImageDigest {
        try await FileWork.run { () throws(ProviderError) -> ImageDigest in
            let bytes = image.bytes
            if bytes.isEmpty { throw ProviderError(.noImage, "the provider returned an empty image") }
            let digest = ImageDigest(
                sha256: ImageDigest.hex(sha256), bytes: bytes.count, info: ImageProbe.probe(bytes), magicMIME: ImageProbe.magicFormat(bytes)?.mimeType
            )
            let direct = bytes.count >= directWriteMinimum ? try writeDirect(image.base, count: bytes.count, to: path) : false
            if !direct { try writeFile(bytes, to: path) }
            return digest
        }
    }

    /// Creates (or truncates) `path` with mode 0600 and writes `bytes` into it; on failure nothing is left behind.
    static func writeFile(_ bytes: UnsafeBufferPointer<UInt8>, to path: String) throws(ProviderError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw ProviderError(.storeFailure, "cannot create the image file (errno \(errno))") }
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                let e = errno
                close(fd)
                unlink(path)
                throw ProviderError(.storeFailure, "cannot write the image file (errno \(e))")
            }
            offset += n
        }
        if close(fd) != 0 && errno != EINTR {
            unlink(path)
            throw ProviderError(.storeFailure, "cannot write the image file (errno \(errno) at close)")
        }
    }

    /// Removes files written by a failed attempt (best effort; one `unlink` each). Blocking: call it on the file
    /// thread pool (``FileWork``), or use ``discard(_:)``.
    static func removeAll(_ images: [GeneratedImage]) {
        for i in images { unlink(i.path) }
    }

    /// Removes files written by a failed attempt on the file thread pool (best effort), never on the cooperative pool.
    static func discard(_ images: [GeneratedImage]) async {
        guard !images.isEmpty else { return }
        try? await FileWork.run { () throws(ProviderError) -> Void in removeAll(images) }
    }

    /// Removes a partly written file on the file thread pool (best effort).
    static func discard(path: String) async {
        try? await FileWork.run { () throws(ProviderError) -> Void in _ = unlink(path) }
    }
}
