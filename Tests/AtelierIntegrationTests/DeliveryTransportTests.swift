import AtelierCore
import AtelierProviders
import AtelierTesting
import Foundation
import Testing

@testable import AtelierEngine

/// The delivery transport against a loopback receiver that misbehaves after its head.
@Suite("delivery transport")
struct DeliveryTransportTests {
    @Test(.timeLimit(.minutes(1)))
    func aReceiverThatStallsAfterItsHeadEndsTheAttemptInTimeoutAtItsDeadline() async throws {
        // The delivery clients have no read timeout and AsyncHTTPClient's deadline ends with the head: without the
        // transport's deadline over the whole exchange this attempt would never end (the test's limit would).
        let receiver = try await FakeHTTPServer.start(host: "receiver", log: FakeRequestLog()) { _ in
            .stallMidBody(status: 200, headers: [("Content-Type", "text/plain")], body: Array(repeating: 65, count: 1 << 16), afterBytes: 10)
        }
        let transport = HTTPDeliveryTransport(perHostConcurrency: 1)
        let started = ContinuousClock.now
        let result = await transport.send(
            DeliveryRequest(
                method: "POST", url: receiver.baseURL + "/hook", headers: [("Content-Type", "application/json")], body: .bytes(Array("{}".utf8)),
                timeoutSeconds: 1, maxResponseBytes: 1 << 20),
            target: VettedTarget(host: "127.0.0.1", pinnedAddress: nil))
        let elapsed = ContinuousClock.now - started
        await transport.shutdown()
        await receiver.shutdown()
        #expect(result == .failure(.timeout))
        #expect(elapsed < .seconds(30), "ends near its 1 s deadline")
    }
}
