import Foundation

/// The web console's static files (HTML, CSS, JavaScript modules), shipped as the AtelierHTTP target's SwiftPM
/// resources (`Sources/AtelierHTTP/Console`) and read into memory once at start, so that serving them touches no disk.
///
/// They contain no secret and are served without the token; every API call and image they make needs it.
///
/// Where they are looked up, in order: `$ATELIER_CONSOLE_DIR`; the resource bundle next to the executable
/// (`atelier_AtelierHTTP.resources/Console`, where SwiftPM puts it for `.build/*/atelierd` and where an installation
/// must copy it); the bundle's build-time path. SwiftPM's generated `Bundle.module` is not used: it stops the process
/// when the bundle is missing, and a daemon without its console files should still serve its API and metrics.
public struct ConsoleAssets: Sendable {
    /// One file: its bytes and content type.
    public struct File: Sendable {
        /// The file's contents.
        public var bytes: [UInt8]
        /// The `Content-Type` it is served with.
        public var contentType: String
    }

    /// The files by name (`index.html`, `console.css`, `jobs.js`, …).
    public let files: [String: File]
    /// The directory they were read from; nil when none was found.
    public let directory: String?

    /// Files given directly (tests).
    public init(files: [String: File], directory: String? = nil) {
        self.files = files
        self.directory = directory
    }

    /// The resource bundle's name SwiftPM gives the AtelierHTTP target of the `atelier` package.
    static let bundleName = "atelier_AtelierHTTP.resources"

    /// The directories searched, in order (see the type's comment).
    static func candidates(environment: [String: String]) -> [String] {
        var out: [String] = []
        if let dir = environment["ATELIER_CONSOLE_DIR"], !dir.isEmpty { out.append(dir) }
        out.append(Bundle.main.bundleURL.appendingPathComponent(bundleName).appendingPathComponent("Console").path)
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        out.append(executable.appendingPathComponent(bundleName).appendingPathComponent("Console").path)
        return out
    }

    /// Reads the console files from the first candidate directory that has an `index.html`. Blocking file reads:
    /// call it on a thread pool (``BlockingWork``). Returns an empty set (and a nil ``directory``) when none is found.
    public static func load(environment: [String: String] = ProcessInfo.processInfo.environment) -> ConsoleAssets {
        for dir in candidates(environment: environment) where FileManager.default.fileExists(atPath: dir + "/index.html") {
            var files: [String: File] = [:]
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                guard let type = contentType(of: name), isServableName(name),
                    let data = FileManager.default.contents(atPath: dir + "/" + name)
                else { continue }
                files[name] = File(bytes: Array(data), contentType: type)
            }
            return ConsoleAssets(files: files, directory: dir)
        }
        return ConsoleAssets(files: [:], directory: nil)
    }

    /// The file a request path names: `/console/` and `/console/index.html` → `index.html`, `/console/jobs.js` →
    /// `jobs.js`. Only flat names of known types; nothing with a slash or a dot-dot is ever looked up.
    public func file(forPath path: String) -> File? {
        guard path.hasPrefix(Self.prefix) else { return nil }
        let name = path.dropFirst(Self.prefix.count)
        return files[name.isEmpty ? "index.html" : String(name)]
    }

    /// The path the console is served under.
    public static let prefix = "/console/"

    /// Lowercase letters, digits and dashes, one dot before the extension.
    static func isServableName(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else { return false }
        return parts[0].allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "-" }
    }

    /// The content type for a file name's extension; nil for types the console does not ship.
    static func contentType(of name: String) -> String? {
        switch (name as NSString).pathExtension {
        case "html": "text/html; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "js": "text/javascript; charset=utf-8"
        case "svg": "image/svg+xml"
        default: nil
        }
    }
}
