import AtelierClient
import AtelierCore
import AtelierImaging
import AtelierRPC
import AtelierTesting
import Foundation
import Testing

/// Best-of-N and protected regions end to end (docs/consistency.md): a real atelierd on the loopback Gemini fake,
/// whose images differ from call to call (a fresh random seed each call), so candidates score differently against
/// a reference drawn from the same prompt.
@Suite("Consistency end to end", .serialized)
struct ConsistencyE2ETests {
    static let square1K: JSONObject = ["aspectRatio": "1:1", "resolution": "1K"]

    /// Writes the Gemini fake's picture of `prompt` (seed 42) as the reference image; returns its path and bytes.
    static func reference(_ dir: TempDir, prompt: String, width: Int = 1024, height: Int = 1024) throws -> (String, [UInt8]) {
        let bytes = FakeImages.image(label: "gemini", prompt: prompt, seed: 42, width: width, height: height)
        let path = dir.path + "/reference-\(UUID().uuidString.prefix(6)).png"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return (path, bytes)
    }

    /// The stored file of one of `job`'s images (the kept result's directory holds every candidate).
    static func storedPath(_ job: Job, imageUUID: String) throws -> String {
        let kept = try #require(job.results.first)
        let dir = (kept.path as NSString).deletingLastPathComponent
        let name = try #require(
            try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasPrefix(job.taskUUID + "-" + imageUUID) })
        return dir + "/" + name
    }

    static func decode(_ path: String) throws -> DecodedImage {
        try ImageDecoder.decode(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Three candidates in parallel on the routed model: each stored and scored; the highest-scoring one is the job's
    /// result; the scores are SSIM against the reference (checked here independently); the job pays for all three.
    @Test func bestOfNKeepsTheHighestScoringCandidate() async throws {
        try await FakeWorld.run("con-best", providers: ["gemini"]) { w in
            let prompt = "a red mug on a desk \(E2E.marker())"
            let (refPath, refBytes) = try Self.reference(w.dir, prompt: prompt)
            var extra = Self.square1K
            extra["referenceImages"] = [.string(refPath)]
            extra["consistency"] = ["samples": 3]
            let job = try await w.run(E2E.task(prompt, model: "gemini-3.1-flash-image", extra))
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            #expect(w.fakes.gemini.generateRequests.count == 3)
            #expect(job.results.count == 1)
            let kept = try #require(job.results.first)
            let report = try #require(kept.consistency)
            #expect(report.candidates.count == 3)
            #expect(Set(report.candidates.map(\.imageUUID)).count == 3)
            #expect(report.candidates.contains { $0.imageUUID == kept.imageUUID })
            #expect(report.score == report.candidates.map(\.score).max())
            #expect(report.candidates.first { $0.imageUUID == kept.imageUUID }?.score == report.score)
            #expect(Set(report.candidates.map(\.score)).count > 1, "the fake's images differ, so do their scores")
            #expect(report.missedMinScore == false)

            // Every candidate is stored; its score is SSIM against the reference.
            let refImage = try ImageDecoder.decode(refBytes)
            for c in report.candidates {
                let image = try Self.decode(try Self.storedPath(job, imageUUID: c.imageUUID))
                #expect(abs(try SSIM.score(refImage, image) - c.score) < 1e-9)
            }
            // The three calls are charged: the kept image carries their sum, as does the job.
            let costs = report.candidates.compactMap(\.costUSD)
            #expect(costs.count == 3 && costs.allSatisfy { $0 > 0 })
            #expect(abs((kept.costUSD ?? 0) - costs.reduce(0, +)) < 1e-9)
            #expect(abs((job.costUSD ?? 0) - costs.reduce(0, +)) < 1e-9)
            // One attempt, and no seed drawn into the task.
            #expect(job.attempts.map(\.outcome) == [.succeeded])
            #expect(job.task.seed == nil)
            // The estimate priced three images.
            let one = try #require(job.route?.estimatedCostUSD)
            var plain = Self.square1K
            plain["referenceImages"] = [.string(refPath)]
            let single = try await w.client.explain(E2E.task(prompt, model: "gemini-3.1-flash-image", plain))
            #expect(abs(one - 3 * (single.chosen?.estimatedCostUSD ?? 0)) < 1e-9)
        }
    }

    /// minScore out of reach: sampling goes on in rounds up to maxSamples, then the job fails with
    /// consistency_not_reached and every score; all five calls are charged.
    @Test func minScoreRetriesThenFailsWithEveryScore() async throws {
        try await FakeWorld.run("con-miss", providers: ["gemini"]) { w in
            let prompt = "a blue chair \(E2E.marker())"
            let (refPath, _) = try Self.reference(w.dir, prompt: prompt)
            var extra = Self.square1K
            extra["referenceImages"] = [.string(refPath)]
            extra["consistency"] = ["samples": 2, "minScore": 0.9999, "maxSamples": 5]
            let job = try await w.run(E2E.task(prompt, model: "gemini-3.1-flash-image", extra))
            #expect(job.status == .failed)
            let error = try #require(job.error)
            #expect(error.code == .consistencyNotReached)
            #expect(error.field == "/consistency/minScore")
            let scores = try #require(error.details["scores"]?.arrayValue)
            #expect(scores.count == 5)
            #expect(scores.allSatisfy { ($0.doubleValue ?? 1) < 0.9999 })
            #expect(error.details["minScore"] == .number(0.9999))
            #expect(error.details["imageUUIDs"]?.arrayValue?.count == 5)
            #expect(w.fakes.gemini.generateRequests.count == 5)
            #expect(job.results.isEmpty)
            #expect((job.costUSD ?? 0) > 0, "the five calls were paid for")
            #expect(job.attempts.count == 1, "a miss is not retried or fallen back")
        }
    }

    /// onMiss best: the same miss keeps the best candidate, marked as a miss.
    @Test func onMissBestKeepsTheBest() async throws {
        try await FakeWorld.run("con-onmiss", providers: ["gemini"]) { w in
            let prompt = "a green lamp \(E2E.marker())"
            let (refPath, _) = try Self.reference(w.dir, prompt: prompt)
            var extra = Self.square1K
            extra["referenceImages"] = [.string(refPath)]
            extra["consistency"] = ["samples": 2, "minScore": 0.9999, "maxSamples": 3, "onMiss": "best"]
            let job = try await w.run(E2E.task(prompt, model: "gemini-3.1-flash-image", extra))
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            let report = try #require(job.results.first?.consistency)
            #expect(report.candidates.count == 3)
            #expect(report.missedMinScore)
            #expect(report.score == report.candidates.map(\.score).max())
            #expect(w.fakes.gemini.generateRequests.count == 3)
        }
    }

    /// stats.get: per model, the consistency jobs, their mean kept score and the mean samples to reach minScore.
    @Test func statsReportMeanBestScoreAndSamplesToMinScore() async throws {
        try await FakeWorld.run("con-stats", providers: ["gemini"]) { w in
            let prompt = "a yellow kettle \(E2E.marker())"
            let (refPath, _) = try Self.reference(w.dir, prompt: prompt)
            var extra = Self.square1K
            extra["referenceImages"] = [.string(refPath)]
            extra["consistency"] = ["samples": 2]
            let first = try await w.run(E2E.task(prompt, model: "gemini-3.1-flash-image", extra))
            extra["consistency"] = ["samples": 2, "minScore": 0]
            let second = try await w.run(E2E.task(prompt, model: "gemini-3.1-flash-image", extra))
            let a = try #require(first.results.first?.consistency)
            let b = try #require(second.results.first?.consistency)
            #expect(a.samplesToReachMinScore == nil)
            #expect(b.samplesToReachMinScore == 1, "the first candidate reaches minScore 0")
            let (report, _) = try await w.client.stats(by: "model", sinceHours: 1)
            let group = try #require(report.groups.first { $0.group == "gemini-3.1-flash-image" })
            #expect(group.consistencyJobs == 2)
            #expect(abs((group.meanBestScore ?? 0) - (a.score + b.score) / 2) < 1e-4)
            #expect(group.meanSamplesToMinScore == 1)
        }
    }

    /// composite: the protected rectangle of the result is the reference's, pixel for pixel, more than 8 px inside
    /// its border; outside it the provider's image is kept; the provider's image stays stored and named.
    @Test func compositeKeepsTheProtectedRegionByteIdentical() async throws {
        try await FakeWorld.run("con-comp", providers: ["gemini"]) { w in
            let prompt = "a product shot, change the background \(E2E.marker())"
            // A reference of another picture than the fake will draw: the region must come from here.
            let (refPath, refBytes) = try Self.reference(w.dir, prompt: "the product itself")
            let rect = (x: 200, y: 300, width: 400, height: 250)
            var extra = Self.square1K
            extra["referenceImages"] = [.string(refPath)]
            extra["preserve"] = [
                "rect": ["x": .int(Int64(rect.x)), "y": .int(Int64(rect.y)), "width": .int(Int64(rect.width)), "height": .int(Int64(rect.height))],
                "mode": "composite",
            ]
            let job = try await w.run(E2E.task(prompt, model: "gemini-3.1-flash-image", extra))
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            let kept = try #require(job.results.first)
            let report = try #require(kept.preserve)
            #expect(report.mode == .composite && report.composited)
            #expect(report.feather == 8)
            let sourceID = try #require(report.sourceImageUUID)
            #expect(sourceID != kept.imageUUID)
            #expect((report.score ?? 1) < 1, "the provider's own image changed the region")
            #expect(report.protectedPixels == rect.width * rect.height)

            let reference = try ImageDecoder.decode(refBytes)
            let result = try Self.decode(kept.path)
            let source = try Self.decode(try Self.storedPath(job, imageUUID: sourceID))
            #expect(result.width == reference.width && result.height == reference.height)
            let rc = reference.channels
            let oc = result.channels
            var insideDiffers = 0
            var outsideDiffers = 0
            for y in 0..<result.height {
                for x in 0..<result.width {
                    let deep = x >= rect.x + 8 && x < rect.x + rect.width - 8 && y >= rect.y + 8 && y < rect.y + rect.height - 8
                    let outside = x < rect.x || x >= rect.x + rect.width || y < rect.y || y >= rect.y + rect.height
                    for c in 0..<3 {
                        let r = result.pixels[(y * result.width + x) * oc + c]
                        if deep && r != reference.pixels[(y * reference.width + x) * rc + c] { insideDiffers += 1 }
                        if outside && r != source.pixels[(y * source.width + x) * source.channels + c] { outsideDiffers += 1 }
                    }
                }
            }
            #expect(insideDiffers == 0, "the protected interior is the reference's exactly")
            #expect(outsideDiffers == 0, "outside the region the provider's image is kept")
        }
    }

    /// measure: the region's drift is reported; with a minScore out of reach, three images are tried and the job
    /// fails with preserve_not_reached.
    @Test func measureReportsDriftAndMinScoreRetries() async throws {
        try await FakeWorld.run("con-meas", providers: ["gemini"]) { w in
            let prompt = "a teapot \(E2E.marker())"
            let (refPath, _) = try Self.reference(w.dir, prompt: prompt)
            var extra = Self.square1K
            extra["referenceImages"] = [.string(refPath)]
            extra["preserve"] = ["rect": ["x": 0, "y": 0, "width": 512, "height": 512], "mode": "measure"]
            let job = try await w.run(E2E.task(prompt, model: "gemini-3.1-flash-image", extra))
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            let report = try #require(job.results.first?.preserve)
            #expect(report.mode == .measure && !report.composited)
            #expect((report.score ?? 1) < 1)
            #expect(report.changedPixels > 0 && report.changedPixels <= 512 * 512)
            #expect(w.fakes.gemini.generateRequests.count == 1)

            extra["preserve"] = ["rect": ["x": 0, "y": 0, "width": 512, "height": 512], "mode": "measure", "minScore": 0.9999]
            let missed = try await w.run(E2E.task(prompt, model: "gemini-3.1-flash-image", extra))
            #expect(missed.status == .failed)
            #expect(missed.error?.code == .preserveNotReached)
            #expect(missed.error?.details["scores"]?.arrayValue?.count == 3)
            #expect(w.fakes.gemini.generateRequests.count == 4)
        }
    }

    /// Inputs that need the pixels are refused at submit with -32602 and the field.
    @Test func badRegionsAndSampleCountsAreRefused() async throws {
        try await FakeWorld.run("con-bad", providers: ["gemini"]) { w in
            let (refPath, _) = try Self.reference(w.dir, prompt: "x", width: 64, height: 48)
            let wide = FakeImages.image(label: "mask", prompt: "m", seed: 1, width: 64, height: 16)
            let maskPath = w.dir.path + "/wide-mask.png"
            try Data(wide).write(to: URL(fileURLWithPath: maskPath))
            let notImage = w.dir.path + "/not-an-image.png"
            try Data("hello".utf8).write(to: URL(fileURLWithPath: notImage))
            let base: JSONObject = ["positivePrompt": "x", "model": "gemini-3.1-flash-image", "referenceImages": [.string(refPath)]]
            let cases: [(JSONObject, String, String)] = [
                (["preserve": ["rect": ["x": 40, "y": 0, "width": 30, "height": 10], "mode": "composite"]], "invalid_value", "/preserve/rect"),
                (["preserve": ["mask": .string(maskPath), "mode": "measure"]], "invalid_value", "/preserve/mask"),
                (["preserve": ["mask": .string(notImage), "mode": "measure"]], "invalid_reference_image", "/preserve/mask"),
                (["consistency": ["samples": 2], "numberResults": 2], "invalid_value", "/numberResults"),
                (["consistency": ["samples": 9]], "invalid_value", "/consistency/samples"),
                (["consistency": ["samples": 2, "against": .string(notImage)]], "invalid_reference_image", "/consistency/against"),
            ]
            for (members, code, field) in cases {
                var params = base
                for (k, v) in members { params[k] = v }
                var refusal: RPCError?
                do { _ = try await w.call(RPCMethod.jobSubmit, .object(params)) } catch { refusal = E2E.rpcError(error) }
                #expect(refusal?.code == -32602, "\(members) → \(String(describing: refusal))")
                #expect(refusal?.stableCode == code, "\(members) → \(String(describing: refusal))")
                #expect(refusal?.field == field, "\(members) → \(String(describing: refusal))")
            }
            #expect(w.fakes.gemini.generateRequests.isEmpty)
        }
    }
}
