import AtelierClient
import Foundation
import Testing

/// `AtelierClient.connect` tells a missing daemon from other connection failures.
@Suite struct ClientConnectTests {
    @Test func aMissingSocketMeansTheDaemonIsNotRunning() async throws {
        let path = NSTemporaryDirectory() + "atelier-absent-\(UUID().uuidString.prefix(8)).sock"
        let error = await #expect(throws: AtelierClientError.self) { try await AtelierClient.connect(socketPath: path) }
        #expect(error?.code == .daemonNotRunning)
        #expect(error?.socketPath == path)
    }

    @Test func aSocketPathTooLongIsAnotherFailure() async throws {
        let path = "/tmp/" + String(repeating: "x", count: 200) + ".sock"
        let error = await #expect(throws: AtelierClientError.self) { try await AtelierClient.connect(socketPath: path) }
        #expect(error?.code == .connectFailed)
        #expect(error?.message.contains(path) == true)
    }

    @Test func withConnectionDoesNotRunItsBodyWithoutADaemon() async throws {
        let path = NSTemporaryDirectory() + "atelier-absent-\(UUID().uuidString.prefix(8)).sock"
        var ran = false
        await #expect(throws: AtelierClientError.daemonNotRunning(socketPath: path)) {
            try await AtelierClient.withConnection(socketPath: path) { _ in ran = true }
        }
        #expect(!ran)
    }
}
