import AtelierCore
import AtelierEngine
import AtelierProviders
import AtelierTesting
import Foundation
import Testing

/// The transports' redirect handling under the address policy, against loopback servers: an allowed origin on
/// `::1` and a target on `127.0.0.1` that the policy denies.
@Suite("egress transports vet every redirect", .serialized)
struct EgressTransportTests {
    static let deny127 = AddressGuard(policy: AddressPolicy(extraDeny: [CIDR("127.0.0.0/8")!]))

    /// Runs `body` with the two servers; the origin redirects `/to-target`, `/loop` (to itself, forever) and
    /// `/keyed` (to another origin, checking which headers survive).
    static func withServers(_ body: (FakeRequestLog, FakeHTTPServer, FakeHTTPServer) async throws -> Void) async throws {
        let log = FakeRequestLog()
        let target = try await FakeHTTPServer.start(host: "target", log: log) { _ in .bytes(200, Array("target".utf8), contentType: "text/plain") }
        let other = try await FakeHTTPServer.start(host: "other", address: "::1", log: log) { _ in
            .bytes(200, Array("other".utf8), contentType: "text/plain")
        }
        let targetURL = target.baseURL + "/secret"
        let otherURL = other.baseURL + "/landing"
        let origin = try await FakeHTTPServer.start(host: "origin", address: "::1", log: log) { r in
            switch r.path {
            case "/to-target": return .respond(status: 302, headers: [("Location", targetURL)], body: [])
            case "/loop": return .respond(status: 307, headers: [("Location", "/loop")], body: [])
            case "/keyed": return .respond(status: 307, headers: [("Location", otherURL)], body: [])
            case "/same": return .respond(status: 301, headers: [("Location", "/final")], body: [])
            default: return .bytes(200, Array("origin".utf8), contentType: "text/plain")
            }
        }
        try await body(log, origin, target)
        await origin.shutdown()
        await other.shutdown()
        await target.shutdown()
    }

    @Test(.timeLimit(.minutes(1)))
    func aReferenceWhoseBodyStallsEndsInTimeoutAtTheRequestsDeadline() async throws {
        // A caller-supplied reference URL whose server sends a head and then stalls: without a deadline over the whole
        // exchange the fetch would wait for the read timeout (300 s), beyond the test's time limit.
        let server = try await FakeHTTPServer.start(host: "stall", address: "::1", log: FakeRequestLog()) { _ in
            .stallMidBody(status: 200, headers: [("Content-Type", "image/png")], body: Array(repeating: 7, count: 1 << 20), afterBytes: 4096)
        }
        let transport = EgressHTTPTransport(addressGuard: Self.deny127)
        let started = ContinuousClock.now
        var caught: ProviderError?
        do throws(ProviderError) {
            _ = try await transport.send(HTTPRequest(method: "GET", url: server.baseURL + "/ref.png", timeoutSeconds: 1), maxBodyBytes: 4 << 20)
        } catch {
            caught = error
        }
        let elapsed = ContinuousClock.now - started
        await transport.shutdown()
        await server.shutdown()
        #expect(caught?.code == .timeout, "\(String(describing: caught))")
        #expect(elapsed < .seconds(30), "ends near its 1 s deadline, not at the read timeout")
    }

    @Test func providerTransportRefusesARedirectToADeniedAddress() async throws {
        try await Self.withServers { log, origin, _ in
            let transport = AsyncHTTPTransport(redirectGuard: Self.deny127)
            defer { Task { await transport.shutdown() } }
            do throws(ProviderError) {
                _ = try await transport.send(HTTPRequest(method: "GET", url: origin.baseURL + "/to-target", timeoutSeconds: 60), maxBodyBytes: 1024)
                Issue.record("the redirect to 127.0.0.1 must be refused")
            } catch {
                #expect(error.upstreamCode == EgressHTTPTransport.forbiddenAddress)
                #expect(error.message.contains("address policy"), "\(error.message)")
            }
            #expect(log.filter { $0.host == "target" }.isEmpty, "the denied target saw no request")
            // A redirect that stays on the allowed origin is followed.
            let ok = try await transport.send(HTTPRequest(method: "GET", url: origin.baseURL + "/same", timeoutSeconds: 60), maxBodyBytes: 1024)
            #expect(ok.status == 200 && ok.body == Array("origin".utf8))
            // The first hop is the operator's provider host: not vetted, so a denied provider host still works.
            let denied = AsyncHTTPTransport(redirectGuard: AddressGuard(policy: AddressPolicy(extraDeny: [CIDR("::1")!])))
            defer { Task { await denied.shutdown() } }
            let direct = try await denied.send(HTTPRequest(method: "GET", url: origin.baseURL + "/plain", timeoutSeconds: 60), maxBodyBytes: 1024)
            #expect(direct.status == 200)
        }
    }

    @Test func referenceTransportVetsEveryHopBoundsRedirectsAndDropsHeadersAcrossOrigins() async throws {
        try await Self.withServers { log, origin, target in
            let transport = EgressHTTPTransport(addressGuard: Self.deny127)
            defer { Task { await transport.shutdown() } }
            for url in [target.baseURL + "/secret", origin.baseURL + "/to-target"] {
                do throws(ProviderError) {
                    _ = try await transport.send(HTTPRequest(method: "GET", url: url, timeoutSeconds: 60), maxBodyBytes: 1024)
                    Issue.record("\(url) must be refused")
                } catch {
                    #expect(error.upstreamCode == EgressHTTPTransport.forbiddenAddress, "\(error)")
                }
            }
            #expect(log.filter { $0.host == "target" }.isEmpty, "the denied target saw no request")

            do throws(ProviderError) {
                _ = try await transport.send(HTTPRequest(method: "GET", url: origin.baseURL + "/loop", timeoutSeconds: 60), maxBodyBytes: 1024)
                Issue.record("an endless redirect must end")
            } catch {
                #expect(error.code == .badUpstream)
                #expect(error.message.contains("more than 5"), "\(error.message)")
            }
            #expect(log.filter { $0.path == "/loop" }.count == 6, "the first request and 5 redirects")

            let r = try await transport.send(
                HTTPRequest(
                    method: "GET", url: origin.baseURL + "/keyed", headers: [("x-key", "provider-secret"), ("Accept", "text/plain")],
                    timeoutSeconds: 60),
                maxBodyBytes: 1024)
            #expect(r.status == 200 && r.body == Array("other".utf8))
            let landing = try #require(log.filter { $0.host == "other" }.last)
            #expect(landing.header("x-key") == nil, "a key is not sent to another origin")
            #expect(landing.header("Accept") == "text/plain")
            #expect(log.filter { $0.path == "/keyed" }.last?.header("x-key") == "provider-secret")
        }
    }

    /// A host name is connected to at the address the guard vetted (pinned), keeping the name in the Host header:
    /// `images.example` exists only in the guard's resolver, so the request can only have gone to that address.
    @Test func hostNamesConnectToTheVettedAddress() async throws {
        try await Self.withServers { log, _, target in
            let resolver: AddressGuard.Resolver = { host in
                guard host == "images.example" else { throw CancellationError() }
                return [IPAddress("127.0.0.1")!]
            }
            let transport = EgressHTTPTransport(addressGuard: AddressGuard(policy: AddressPolicy(), resolver: resolver))
            defer { Task { await transport.shutdown() } }
            let r = try await transport.send(
                HTTPRequest(method: "GET", url: "http://images.example:\(target.port)/pinned", timeoutSeconds: 60), maxBodyBytes: 1024)
            #expect(r.status == 200 && r.body == Array("target".utf8))
            let seen = try #require(log.filter { $0.host == "target" && $0.path == "/pinned" }.first)
            #expect(seen.header("Host") == "images.example:\(target.port)")
            // The same name under a policy that denies its address is refused before connecting.
            let strict = EgressHTTPTransport(addressGuard: AddressGuard(policy: AddressPolicy(extraDeny: [CIDR("127.0.0.0/8")!]), resolver: resolver))
            defer { Task { await strict.shutdown() } }
            do throws(ProviderError) {
                _ = try await strict.send(
                    HTTPRequest(method: "GET", url: "http://images.example:\(target.port)/refused", timeoutSeconds: 60), maxBodyBytes: 1024)
                Issue.record("images.example resolves to a denied address")
            } catch {
                #expect(error.upstreamCode == EgressHTTPTransport.forbiddenAddress)
                #expect(error.message.contains("images.example resolves to 127.0.0.1"), "\(error.message)")
            }
            #expect(log.filter { $0.path == "/refused" }.isEmpty)
        }
    }
}
