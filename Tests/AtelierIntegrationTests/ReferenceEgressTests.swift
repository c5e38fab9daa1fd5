import AtelierClient
import AtelierCore
import AtelierRPC
import AtelierTesting
import Foundation
import Testing

/// Reference images given as `http(s)` URLs obey the same address policy as deliveries: with `127.0.0.0/8`
/// denied, nothing on 127.0.0.1 is fetched — named directly, by a host name, or through a redirect from an
/// allowed address (`::1`) — and the refusal is `invalid_reference_image` naming the policy.
@Suite("reference downloads obey the address policy", .serialized)
struct ReferenceEgressTests {
    /// A PNG the local renderer accepts as a reference.
    static let png = FakeImages.image(label: "ref", prompt: "reference", seed: 7, width: 32, height: 32)

    static func task(_ url: String) -> JSONValue {
        ["positivePrompt": "a reference test", "model": "local-render", "width": 64, "height": 64, "referenceImages": [.string(url)]]
    }

    @Test func deniedTargetIsNeverFetchedDirectlyByNameOrThroughARedirect() async throws {
        let log = FakeRequestLog()
        // The target a policy denies (127.0.0.1), and an allowed origin (::1) that serves an image and redirects.
        let target = try await FakeHTTPServer.start(host: "target", log: log) { _ in .bytes(200, Self.png, contentType: "image/png") }
        let targetURL = target.baseURL + "/ref.png"
        let origin = try await FakeHTTPServer.start(host: "origin", address: "::1", log: log) { r in
            switch r.path {
            case "/image.png": return .bytes(200, Self.png, contentType: "image/png")
            case "/to-target": return .respond(status: 302, headers: [("Location", targetURL)], body: [])
            case "/to-origin": return .respond(status: 307, headers: [("Location", "/image.png")], body: [])
            default: return .respond(status: 404, headers: [], body: [])
            }
        }
        let dir = TempDir("ref-egress")
        let daemon = try await DaemonProcess.start(in: dir, extraArguments: ["--egress-deny", "127.0.0.0/8"])
        // Stopped on every path, also when an expectation throws.
        do {
            defer { dir.cleanup() }
            let client = try await daemon.client()

            // Named directly: refused at submit, with the field, the reason and the policy's flags.
            let direct = await rpcError { _ = try await client.submit(Self.task(targetURL)) }
            #expect(direct?.stableCode == "invalid_reference_image")
            #expect(direct?.field == "/referenceImages/0")
            #expect(direct?.data?["reason"] == "forbidden_address")
            #expect(direct?.message.contains("address policy") == true, "\(direct?.message ?? "")")
            #expect(direct?.message.contains("127.0.0.0/8") == true)

            // Through a redirect from the allowed origin: the origin is asked, the redirect's target is refused.
            let viaRedirect = try await client.submit(Self.task(origin.baseURL + "/to-target"))
            let failed = try await client.wait(viaRedirect.taskUUID, timeoutSeconds: 60)
            #expect(failed.status == .failed)
            #expect(failed.error?.code == .invalidReferenceImage, "\(failed.error?.description ?? "")")
            #expect(failed.error?.message.contains("address policy") == true, "\(failed.error?.message ?? "")")
            #expect(failed.error?.message.contains("127.0.0.1") == true)

            // By a host name that resolves to a denied address: refused after resolution.
            let byName = try await client.submit(Self.task("http://localhost:\(target.port)/ref.png"))
            let failedByName = try await client.wait(byName.taskUUID, timeoutSeconds: 60)
            #expect(failedByName.status == .failed)
            #expect(failedByName.error?.code == .invalidReferenceImage)
            #expect(failedByName.error?.message.contains("address policy") == true, "\(failedByName.error?.message ?? "")")

            // The allowed origin works, also through a redirect that stays on it.
            let allowed = try await client.submit(Self.task(origin.baseURL + "/to-origin"))
            let ok = try await client.wait(allowed.taskUUID, timeoutSeconds: 60)
            #expect(ok.status == .succeeded, "\(ok.error?.description ?? "")")

            #expect(log.filter { $0.host == "target" }.isEmpty, "the denied address never saw a request")
            #expect(log.filter { $0.host == "origin" && $0.path == "/to-target" }.count >= 1, "the redirect came from the allowed origin")
            #expect(log.filter { $0.host == "origin" && $0.path == "/image.png" }.count >= 1)

        } catch {
            await daemon.terminate()
            throw error
        }
        await daemon.terminate()
        await origin.shutdown()
        await target.shutdown()
    }
}
