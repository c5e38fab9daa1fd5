import Foundation

/// Runs `Tests/peers/ssim_peer.py` (scikit-image's `structural_similarity`) on image pairs written to disk.
///
/// The process is started, waited for and read on a thread of its own, never on Swift's cooperative pool.
enum SSIMPeer {
    /// What the peer answered.
    enum Outcome {
        /// One score per pair, and the versions of scikit-image and numpy used.
        case scores([Double], versions: String)
        /// `python3`, numpy or scikit-image is missing (the reason).
        case unavailable(String)
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The package root, found from this file's location.
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        }
        return FileManager.default.currentDirectoryPath
    }()

    static let python: String? = {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/python3"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }()

    /// Scores each (a, b) file pair; blocking, so call it through ``offPool(_:)``.
    static func score(pairs: [(String, String)], directory: String) throws -> Outcome {
        guard let python else { return .unavailable("python3 is not installed") }
        let list = pairs.map { ["a": $0.0, "b": $0.1] }
        let listPath = directory + "/pairs.json"
        try JSONSerialization.data(withJSONObject: list).write(to: URL(fileURLWithPath: listPath))
        let outPath = directory + "/peer.out"
        let errPath = directory + "/peer.err"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [root + "/Tests/peers/ssim_peer.py", listPath]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        try process.run()
        process.waitUntilExit()
        let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        if process.terminationStatus == 3 { return .unavailable(err.trimmingCharacters(in: .whitespacesAndNewlines)) }
        guard process.terminationStatus == 0 else { throw Failure(description: "ssim_peer.py exited \(process.terminationStatus):\n\(err)") }
        let out = try Data(contentsOf: URL(fileURLWithPath: outPath))
        guard let json = try JSONSerialization.jsonObject(with: out) as? [String: Any], let scores = json["scores"] as? [Double] else {
            throw Failure(description: "ssim_peer.py answered \(String(decoding: out, as: UTF8.self))")
        }
        let versions = (json["versions"] as? [String: String])?.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        return .scores(scores, versions: versions?.joined(separator: ", ") ?? "")
    }

    /// Runs `body` on a new thread and returns its result without blocking a cooperative-pool thread.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(with: Result { try body() })
            }
        }
    }
}
