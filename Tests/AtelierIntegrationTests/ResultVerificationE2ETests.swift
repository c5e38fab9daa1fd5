import AtelierClient
import AtelierCore
import AtelierTesting
import Foundation
import Testing

/// Results verified against their request end to end: the Gemini fake answers with a smaller image than asked and
/// another `modelVersion`; routing.json's `verification.onMismatch` decides what that does.
@Suite("Result verification end to end", .serialized)
struct ResultVerificationE2ETests {
    /// The provider end-to-end policy with `verification.onMismatch` set.
    static func routing(_ onMismatch: MismatchPolicy, prefer: [String] = [], maxFallbacks: Int = 3) throws -> String {
        guard case .object(var doc) = try JSONParser.parse([UInt8](E2E.routing(prefer: prefer, maxFallbacks: maxFallbacks).utf8)) else {
            return ""
        }
        doc["verification"] = ["onMismatch": .string(onMismatch.rawValue)]
        return JSONWriter.string(.object(doc))
    }

    static let square1K: JSONObject = ["aspectRatio": "1:1", "resolution": "1K"]

    /// Default (flag): the job succeeds, each mismatch is on the result, the substitution is repriced at the serving
    /// model's catalog price; a faithful answer verifies ok.
    @Test func flagRecordsTheMismatchesAndRepricesASubstitution() async throws {
        try await FakeWorld.run("ver-flag", providers: ["gemini"]) { w in
            let m = E2E.marker()
            let job = try await w.run(
                E2E.task("a harbour \(m) [fake:gemini:smaller] [fake:gemini:other-model]", model: "gemini-3.1-flash-image", Self.square1K))
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            let r = try #require(job.results.first)
            #expect(r.width == 512 && r.height == 512)
            let v = try #require(r.verification)
            #expect(!v.ok)
            #expect(v.fields == ["width", "height", "model"])
            #expect(v.mismatches.first == ResultMismatch(field: "width", requested: .int(1024), delivered: .int(512)))
            #expect(
                v.mismatches.last
                    == ResultMismatch(field: "model", requested: .string("gemini-3.1-flash-image"), delivered: .string("gemini-2.5-flash-image")))
            // Gemini 2.5 Flash Image's catalog price (0.039 USD per image), not 3.1 Flash's token-computed cost.
            #expect(r.costUSD == 0.039)
            #expect(job.costUSD == 0.039)
            #expect(job.attempts.map(\.outcome) == [.succeeded])

            let clean = try await w.run(E2E.task("a harbour \(E2E.marker())", model: "gemini-3.1-flash-image", Self.square1K))
            #expect(clean.status == .succeeded)
            #expect(clean.results.first?.verification == ResultVerification())
            #expect(clean.results.first?.costUSD != 0.039)

            // stats.get counts the mismatched job against the model that was routed.
            let (report, answer) = try await w.client.stats(by: "model", sinceHours: 1)
            let group = try #require(report.groups.first { $0.group == "gemini-3.1-flash-image" })
            #expect(group.jobs == 2 && group.mismatches == 1)
            #expect(answer["groups"]?.arrayValue?.first?["mismatches"] == .int(1))
        }
    }

    /// A seed-honouring provider that echoes each image's seed (seed, seed + 1) verifies ok on every image.
    @Test func echoedSeedsOfSeveralImagesVerify() async throws {
        try await FakeWorld.run("ver-seeds", providers: ["runware"]) { w in
            let job = try await w.run(
                E2E.task("two mugs \(E2E.marker())", model: "runware-flux-2-klein-4b", ["width": 512, "height": 384, "seed": 77, "numberResults": 2]))
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            #expect(Set(job.results.compactMap(\.seed)) == [77, 78])
            #expect(job.results.count == 2 && job.results.allSatisfy { $0.verification == ResultVerification() })
        }
    }

    /// fail: the job fails with result_mismatch naming the fields; nothing is retried and no result is kept.
    @Test func failEndsTheJobWithResultMismatch() async throws {
        try await FakeWorld.run("ver-fail", providers: ["gemini"], routing: try Self.routing(.fail)) { w in
            let job = try await w.run(E2E.task("a harbour \(E2E.marker()) [fake:gemini:smaller]", model: "gemini-3.1-flash-image", Self.square1K))
            #expect(job.status == .failed)
            let error = try #require(job.error)
            #expect(error.code == .resultMismatch)
            #expect(error.message.contains("width, height"))
            #expect(error.details["fields"] == .array([.string("width"), .string("height")]))
            #expect(job.results.isEmpty)
            #expect(job.costUSD ?? 0 > 0, "the call that was paid for is charged")
            #expect(job.attempts.map(\.outcome) == [.failed])
            #expect(w.fakes.gemini.generateRequests.count == 1)
            let (report, _) = try await w.client.stats(by: "model", sinceHours: 1)
            #expect(report.groups.map(\.mismatches) == [1])
        }
    }

    /// retry: a mismatched answer is a failed attempt; the retry's faithful answer is kept.
    @Test func retryCountsAFailedAttemptAndKeepsTheRetry() async throws {
        try await FakeWorld.run("ver-retry", providers: ["gemini"], routing: try Self.routing(.retry)) { w in
            let job = try await w.run(
                E2E.task("a harbour \(E2E.marker()) [fake:gemini:smaller-once]", model: "gemini-3.1-flash-image", Self.square1K))
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            #expect(job.attempts.map(\.outcome) == [.failed, .succeeded])
            #expect(job.attempts.first?.error?.code == .resultMismatch)
            #expect(job.results.count == 1)
            #expect(job.results.first?.verification?.ok == true)
            #expect(job.results.first?.width == 1024)
            #expect(w.fakes.gemini.generateRequests.count == 2)
        }
    }

    /// retry: a model that keeps answering wrong is exhausted, the fallback is tried, and with every model wrong
    /// the job fails with result_mismatch.
    @Test func retryFallsBackThenFailsWhenEveryModelMismatches() async throws {
        let routing = try Self.routing(.retry, prefer: ["gemini-3.1-flash-image", "gemini-3-pro-image"], maxFallbacks: 1)
        try await FakeWorld.run("ver-retry-fb", providers: ["gemini"], routing: routing) { w in
            let job = try await w.run(E2E.task("a harbour \(E2E.marker()) [fake:gemini:smaller]", ["aspectRatio": "1:1", "resolution": "1K"]))
            #expect(job.status == .failed)
            #expect(job.error?.code == .resultMismatch, "\(job.attempts.map { "\($0.model): \($0.error?.description ?? "")" })")
            #expect(Set(job.attempts.map(\.model)) == ["gemini-3.1-flash-image", "gemini-3-pro-image"])
            #expect(job.attempts.allSatisfy { $0.outcome == .failed && $0.error?.code == .resultMismatch })
            #expect(job.route?.reasons.last?.contains("after result_mismatch") == true)
            #expect(job.results.isEmpty)
        }
    }
}
