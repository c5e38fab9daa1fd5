import AtelierCore
import AtelierEngine
import AtelierRPC
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Settings of the socket face.
public struct SocketServerConfiguration: Sendable {
    /// The socket path.
    public var socketPath: String
    /// The longest accepted frame, in bytes (default 64 MiB).
    public var maxFrameBytes: Int
    /// Requests of one connection running at once before it stops reading.
    public var maxInFlightPerConnection: Int
    /// The most requests one batch may hold (default 1,000); a larger batch is refused as a whole with -32600
    /// `batch_too_large`.
    public var maxBatchRequests: Int
    /// Unflushed answer bytes of one connection above which the daemon stops reading from it, until they drain
    /// below ``writeBufferLowBytes`` (a client that does not read its answers stops being read, and its answers
    /// never pile up without bound).
    public var writeBufferHighBytes: Int
    /// See ``writeBufferHighBytes``.
    public var writeBufferLowBytes: Int

    public init(
        socketPath: String, maxFrameBytes: Int = 64 << 20, maxInFlightPerConnection: Int = 256, maxBatchRequests: Int = 1000,
        writeBufferHighBytes: Int = 1 << 20, writeBufferLowBytes: Int = 256 << 10
    ) {
        self.socketPath = socketPath
        self.maxFrameBytes = maxFrameBytes
        self.maxInFlightPerConnection = maxInFlightPerConnection
        self.maxBatchRequests = maxBatchRequests
        self.writeBufferHighBytes = writeBufferHighBytes
        self.writeBufferLowBytes = min(writeBufferLowBytes, writeBufferHighBytes)
    }
}

/// Why the socket could not be opened.
public struct SocketServerError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// The Unix-domain socket server.
///
/// Invariants: the socket's directory is mode 0700 and the socket 0600 (only this user can connect); a socket
/// file left by a crashed daemon is removed, but a live daemon's socket is never taken over.
public final class SocketServer: Sendable {
    public let configuration: SocketServerConfiguration
    private let dispatcher: RPCDispatcher
    private let logger: Logger
    private let channels = Mutex<(server: (any Channel)?, clients: [ObjectIdentifier: any Channel])>((nil, [:]))

    public init(configuration: SocketServerConfiguration, services: DaemonServices, logger: Logger) {
        self.configuration = configuration
        self.dispatcher = RPCDispatcher(services: services)
        self.logger = logger
    }

    /// Prepares the directory, checks for a live daemon, binds, and restricts the socket's mode.
    public func start() async throws {
        let path = configuration.socketPath
        let dir = (path as NSString).deletingLastPathComponent
        // File-system work (mkdir, stat, probing connect, unlink) runs on NIO's thread pool, never on a Swift
        // concurrency thread.
        let removedStale = try await NIOThreadPool.singleton.runIfActive { () throws -> Bool in
            try Self.prepareDirectory(dir)
            guard FileManager.default.fileExists(atPath: path) else { return false }
            if Self.isLive(path) {
                throw SocketServerError(description: "another atelierd is already listening on \(path)")
            }
            try? FileManager.default.removeItem(atPath: path)
            return true
        }
        if removedStale { logger.info("removed a stale socket file", metadata: ["path": "\(path)"]) }
        let dispatcher = self.dispatcher
        let maxFrame = configuration.maxFrameBytes
        let maxInFlight = configuration.maxInFlightPerConnection
        let maxBatch = configuration.maxBatchRequests
        let waterMark = ChannelOptions.Types.WriteBufferWaterMark(
            low: configuration.writeBufferLowBytes, high: configuration.writeBufferHighBytes)
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
            .childChannelOption(ChannelOptions.writeBufferWaterMark, value: waterMark)
            .childChannelInitializer { [weak self] channel in
                let id = ObjectIdentifier(channel)
                self?.channels.withLock { $0.clients[id] = channel }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineFrameDecoder(maxFrameBytes: maxFrame)))
                    try channel.pipeline.syncOperations.addHandler(
                        RPCConnectionHandler(dispatcher: dispatcher, maxInFlight: maxInFlight, maxBatch: maxBatch) { [weak self] in
                            _ = self?.channels.withLock { $0.clients.removeValue(forKey: id) }
                        })
                }
            }
        let old = umask(0o177)
        defer { umask(old) }
        let server = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false).get()
        chmod(path, 0o600)
        channels.withLock { $0.server = server }
        logger.info("listening", metadata: ["socket": "\(path)"])
    }

    /// Stops accepting new connections (existing ones keep working).
    public func stopAccepting() async {
        let server = channels.withLock { s -> (any Channel)? in
            defer { s.server = nil }
            return s.server
        }
        try? await server?.close()
        let path = configuration.socketPath
        _ = try? await NIOThreadPool.singleton.runIfActive { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Closes every client connection.
    public func closeConnections() async {
        let clients = channels.withLock { Array($0.clients.values) }
        for c in clients { try? await c.close() }
    }

    /// Creates `dir` with mode 0700, or tightens an existing directory this user owns.
    static func prepareDirectory(_ dir: String) throws {
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            return
        }
        guard isDir.boolValue else { throw SocketServerError(description: "\(dir) exists and is not a directory") }
        var st = stat()
        guard stat(dir, &st) == 0 else { throw SocketServerError(description: "cannot stat \(dir)") }
        if st.st_uid == getuid() {
            chmod(dir, 0o700)
        } else if st.st_mode & 0o022 != 0 {
            throw SocketServerError(description: "\(dir) belongs to another user and is writable by others; choose another --socket")
        }
    }

    /// True when something accepts connections at `path`.
    static func isLive(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let r = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        return r == 0
    }
}
