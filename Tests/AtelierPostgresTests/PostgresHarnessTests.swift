import Foundation
import Testing

@testable import AtelierEngine

/// The throw-away cluster itself: it answers on loopback with the password, runs unprivileged when the tests run as
/// root, and is gone (port closed, directory deleted) once `withPostgres` returns.
@Suite struct PostgresHarnessTests {
    @Test func aClusterStartsServesAndIsRemovedAfterwards() async throws {
        let (root, port) = try await withPostgres { cluster in
            try await PostgresStore.withStore(try cluster.location(), callTimeout: .seconds(60), logger: quietLogger) { store in
                let version = try await store.schemaVersion()
                #expect(version == PostgresStore.migrations.map(\.version).max())
            }
            #expect(FileManager.default.fileExists(atPath: cluster.root + "/data/PG_VERSION"))
            if getuid() == 0 {
                let owner = try FileManager.default.attributesOfItem(atPath: cluster.root + "/data")[.ownerAccountID] as? NSNumber
                #expect(owner?.uint32Value == getpwnam(PostgresHarness.serverUser)?.pointee.pw_uid, "the server must not run as root")
            }
            #expect(!cluster.url().isEmpty)
            return (cluster.root, cluster.port)
        }
        #expect(!FileManager.default.fileExists(atPath: root), "the cluster's directory must be deleted")
        #expect(!loopbackAccepts(port: port), "the server must be stopped")
    }

    @Test func aWrongPasswordIsRefusedWithoutEchoingIt() async throws {
        try await withPostgres { cluster in
            var location = try cluster.location()
            location.password = "not-the-password-42"
            let store = PostgresStore(location: location, logger: quietLogger)
            await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await store.run() }
                do {
                    try await withDeadline(.seconds(30)) { try await store.checkConnection() }
                    Issue.record("a wrong password was accepted")
                } catch let error as DeadlinePassed {
                    Issue.record("a wrong password was neither accepted nor refused: \(error)")
                } catch {
                    #expect(!String(reflecting: error).contains("not-the-password-42"))
                    #expect(StoreFault.postgres(error, location: location) == nil, "bad credentials are not a passing fault")
                }
                group.cancelAll()
            }
        }
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port` (a blocking connect to loopback, answered or
    /// refused at once by the kernel).
    private func loopbackAccepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
