import AtelierCore
import Foundation

/// Writes provider image payloads into the scratch directory.
public enum ImageFiles {
    /// Base64 characters decoded per step (a multiple of 4, so every chunk decodes on its own).
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
    /// padding tolerated) into a new file at `path`, 64 KiB of text at a time, so at most one chunk of decoded
    /// bytes is held besides the text itself. Returns the number of bytes written.
    ///
    /// Malformed base64 is `bad_upstream`; an empty payload is `no_image`; a local write failure is `unavailable`.
    @discardableResult
    public static func writeBase64<S: StringProtocol>(_ base64: S, to path: String) throws(ProviderError) -> Int {
        var text = Substring(base64)
        if text.utf8.starts(with: "data:".utf8) {
            guard let comma = text.firstIndex(of: ",") else { throw ProviderError(.badUpstream, "malformed data URI in the image payload") }
            text = text[text.index(after: comma)...]
        }
        let fm = FileManager.default
        guard fm.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw ProviderError(.unavailable, "cannot create the image file in the scratch directory")
        }
        var written = 0
        var chunk: [UInt8] = []
        chunk.reserveCapacity(chunkCharacters + 4)
        var sawPadding = false
        func flush(final: Bool) throws(ProviderError) {
            if final {
                switch chunk.count % 4 {
                case 0: break
                case 2: chunk.append(contentsOf: [0x3D, 0x3D])
                case 3: chunk.append(0x3D)
                default: throw ProviderError(.badUpstream, "the image payload is not valid base64 (truncated)")
                }
            }
            if chunk.isEmpty { return }
            guard let decoded = Data(base64Encoded: Data(chunk)) else {
                throw ProviderError(.badUpstream, "the image payload is not valid base64")
            }
            do { try handle.write(contentsOf: decoded) } catch {
                throw ProviderError(.unavailable, "cannot write the image file: \(error.localizedDescription)")
            }
            written += decoded.count
            chunk.removeAll(keepingCapacity: true)
        }
        func consume(_ b: UInt8) throws(ProviderError) {
            switch b {
            case 0x0A, 0x0D, 0x20, 0x09: return
            case 0x2D: chunk.append(0x2B)  // '-' → '+'
            case 0x5F: chunk.append(0x2F)  // '_' → '/'
            case 0x3D:
                sawPadding = true
                chunk.append(b)
            case 0x41...0x5A, 0x61...0x7A, 0x30...0x39, 0x2B, 0x2F:
                if sawPadding { throw ProviderError(.badUpstream, "the image payload is not valid base64 (data after padding)") }
                chunk.append(b)
            default:
                throw ProviderError(.badUpstream, "the image payload is not valid base64")
            }
            if chunk.count == chunkCharacters { try flush(final: false) }
        }
        do throws(ProviderError) {
            var failure: ProviderError?
            let fast: Void? = text.utf8.withContiguousStorageIfAvailable { buf in
                for b in buf {
                    do throws(ProviderError) { try consume(b) } catch {
                        failure = error
                        return
                    }
                }
            }
            if let failure { throw failure }
            if fast == nil {
                for b in text.utf8 { try consume(b) }
            }
            try flush(final: true)
            try? handle.close()
        } catch {
            try? handle.close()
            try? fm.removeItem(atPath: path)
            throw error
        }
        if written == 0 {
            try? fm.removeItem(atPath: path)
            throw ProviderError(.noImage, "the provider returned an empty image")
        }
        return written
    }

    /// The image type of a file from its first bytes (PNG, JPEG, WebP), or nil.
    public static func sniffMIME(path: String) -> String? {
        guard let h = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? h.close() }
        guard let d = try? h.read(upToCount: 12) else { return nil }
        let b = [UInt8](d)
        if b.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return "image/png" }
        if b.starts(with: [0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if b.count >= 12, b.starts(with: Array("RIFF".utf8)), Array(b[8..<12]) == Array("WEBP".utf8) { return "image/webp" }
        return nil
    }

    /// Removes files written by a failed attempt (best effort).
    static func removeAll(_ images: [GeneratedImage]) {
        for i in images { try? FileManager.default.removeItem(atPath: i.path) }
    }
}
