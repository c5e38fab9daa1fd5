import ArgumentParser
import AtelierRPC
import Foundation

/// `atelier console`: prints the address of the daemon's web console with the token in the URL fragment.
///
/// It reads the two files a daemon started with `--http` writes next to its socket (``HTTPFacePaths``): the URL it
/// listens on and the bearer token (0600, so only the daemon's user can run this). A synchronous command: two small
/// file reads, no concurrency.
struct Console: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the web console's URL (with the token in its #fragment).",
        discussion: """
            Open the printed address in a browser on this machine. The token travels only in the URL fragment, which \
            the browser never sends; the page moves it into the Authorization header and forgets the fragment. The \
            token changes at every start of atelierd. Needs a daemon started with --http (or ATELIER_HTTP). Exits 3 \
            when the daemon serves no HTTP face.
            """)

    @OptionGroup var global: GlobalOptions

    /// The exit status when there is no HTTP face to point at.
    static let noConsoleExitCode: Int32 = 3

    func run() throws {
        let socket = global.socket ?? DefaultPaths.socket()
        let urlPath = HTTPFacePaths.url(socketPath: socket)
        let tokenPath = HTTPFacePaths.token(socketPath: socket)
        guard let base = Self.firstLine(urlPath) else {
            FileHandle.standardError.write(
                Data(
                    ("atelier: the daemon on \(socket) serves no HTTP face (no \(urlPath)); start atelierd with --http 127.0.0.1:8080 "
                        + "(or ATELIER_HTTP)\n").utf8))
            throw ExitCode(Self.noConsoleExitCode)
        }
        guard let token = Self.firstLine(tokenPath) else {
            FileHandle.standardError.write(
                Data("atelier: cannot read the token \(tokenPath) (it is readable only by the daemon's user)\n".utf8))
            throw ExitCode(Self.noConsoleExitCode)
        }
        let url = HTTPFacePaths.consoleURL(base: base, token: token)
        if global.json {
            print(#"{"url":"\#(url)"}"#)
        } else {
            print(url)
        }
    }

    /// The first line of a small file, trimmed; nil when it cannot be read or is empty.
    static func firstLine(_ path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let line = text.split(whereSeparator: \.isNewline).first.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? ""
        return line.isEmpty ? nil : line
    }
}
