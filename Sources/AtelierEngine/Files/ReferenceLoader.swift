import AtelierCore
import AtelierImaging
import AtelierProviders
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Loads a task's reference images into memory, checked against the model's limits.
public struct ReferenceLoader: Sendable {
    /// Used for http(s) references; the daemon passes an ``EgressHTTPTransport`` so that the address policy
    /// applies to every hop.
    public let transport: any HTTPTransport
    /// The data directory's layout.
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
                // A FIFO, socket or device would block the thread that opens it until a writer appears (a stuck
                // thread-pool thread): only regular files, or links to them, are references.
                guard Self.isRegularFile(path) else {
                    throw AtelierError(.invalidReferenceImage, "not a regular file: \(path)", field: field)
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
                if data.count > maxBytes {
                    throw AtelierError(.invalidReferenceImage, "image is \(data.count) bytes; at most \(maxBytes)", field: field)
                }
                if ImageProbe.probe(Array(data)) == nil {
                    throw AtelierError(.invalidReferenceImage, "data is not a PNG, JPEG, WEBP or GIF image", field: field)
                }
            case .url:
                break
            }
        }
    }

    /// True when `path` is a regular file or a link to one (`stat`, which does not block on a FIFO).
    static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        guard stat(path, &st) == 0 else { return false }
        return (st.st_mode & S_IFMT) == S_IFREG
    }

    /// Loads every reference of `task` for `model`.
    public func load(_ task: ImageTask, model: ModelCard, attemptKey: String, timeoutSeconds: Double) async throws(AtelierError) -> [LoadedReference]
    {
        var out: [LoadedReference] = []
        for (i, r) in task.referenceImages.enumerated() {
            let field = "/referenceImages/\(i)"
            var bytes: [UInt8]
            var source: String? = nil
            switch r {
            case .file(let path):
                // Read on NIO's thread pool, not on a Swift concurrency thread.
                guard
                    let d = try? await BlockingWork.run({ ReferenceLoader.isRegularFile(path) ? FileManager.default.contents(atPath: path) : nil })
                        ?? nil
                else {
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
                // Read into memory, bounded by the model's limit (the bytes are needed in memory anyway). The
                // daemon's transport here is an ``EgressHTTPTransport``: the address policy vets every hop.
                let response: HTTPResponse
                do {
                    response = try await transport.send(
                        HTTPRequest(method: "GET", url: url, timeoutSeconds: timeoutSeconds), maxBodyBytes: model.maxReferenceImageBytes)
                } catch {
                    var details: JSONObject = [:]
                    if error.upstreamCode == EgressHTTPTransport.forbiddenAddress { details.append("reason", "forbidden_address") }
                    throw AtelierError(
                        .invalidReferenceImage, "cannot fetch \(URLCheck.redacted(url)): \(error.message)", field: field, details: details)
                }
                guard (200..<300).contains(response.status) else {
                    throw AtelierError(.invalidReferenceImage, "cannot fetch \(URLCheck.redacted(url)): it answered \(response.status)", field: field)
                }
                bytes = response.body
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
