import AtelierClient
import Foundation

/// Starts `atelierd` in a fresh temporary directory, connects a client and runs `body`. Afterwards (also when `body`
/// throws) it closes the client, terminates the daemon and waits for it to exit, then removes the directory.
///
/// This replaces `defer { Task { await daemon.terminate() } }`, which let a test end (and the next one start) while
/// its daemon was still running, and removed the directory under a live daemon.
/// - Parameter label: a short prefix for the temporary directory (socket paths are limited to ~107 bytes).
func withDaemon<T>(
    _ label: String = "daemon", allowBuiltin: Bool = true, routing: String? = nil, extraArguments: [String] = [],
    environment: [String: String] = [:], _ body: (DaemonProcess, AtelierClient) async throws -> T
) async throws -> T {
    let dir = TempDir(label)
    defer { dir.cleanup() }
    return try await withDaemon(
        in: dir, allowBuiltin: allowBuiltin, routing: routing, extraArguments: extraArguments, environment: environment, body)
}

/// ``withDaemon(_:allowBuiltin:routing:extraArguments:environment:_:)`` in a directory the caller owns (and
/// removes), for tests that put more in it (receiver peers, provider files) or restart a daemon on the same data.
func withDaemon<T>(
    in dir: TempDir, allowBuiltin: Bool = true, routing: String? = nil, extraArguments: [String] = [],
    environment: [String: String] = [:], dataDir: String? = nil, socketPath: String? = nil,
    _ body: (DaemonProcess, AtelierClient) async throws -> T
) async throws -> T {
    let daemon = try await DaemonProcess.start(
        in: dir, allowBuiltin: allowBuiltin, routing: routing, extraArguments: extraArguments, environment: environment,
        dataDir: dataDir, socketPath: socketPath)
    let client: AtelierClient
    do {
        client = try await daemon.client()
    } catch {
        await daemon.terminate()
        throw error
    }
    let result: T
    do {
        result = try await body(daemon, client)
    } catch {
        try? await client.close()
        await daemon.terminate()
        throw error
    }
    try? await client.close()
    await daemon.terminate()
    return result
}
