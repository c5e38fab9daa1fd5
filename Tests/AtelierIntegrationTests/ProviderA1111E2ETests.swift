import AtelierClient
import AtelierCore
import AtelierEngine
import AtelierRPC
import AtelierTesting
import Foundation
import Testing

/// Jobs submitted over the socket to a real daemon whose self-hosted AUTOMATIC1111 provider points at the fake.
@Suite("AUTOMATIC1111 end to end", .serialized)
struct ProviderA1111E2ETests {
    /// txt2img with Basic auth, a batch of two, the seeds from `info.all_seeds`, cost 0, and byte-for-byte
    /// reproduction.
    @Test func txt2imgBatchSeedsAndBasicAuth() async throws {
        try await FakeWorld.run("sd-ok", providers: ["a1111"]) { w in
            let m = E2E.marker()
            let prompt = "a watercolour fox \(m)"
            let task = E2E.task(prompt, model: "sd-webui", ["negativePrompt": "lowres", "width": 512, "height": 384, "seed": 99, "numberResults": 2])
            let first = try await w.run(task)
            let second = try await w.run(task)
            for j in [first, second] { #expect(j.status == .succeeded, "\(j.error?.description ?? "")") }

            let calls = w.fakes.a1111.log.all
            try #require(calls.count == 2)
            #expect(calls.allSatisfy { $0.method == "POST" && $0.uri == "/sdapi/v1/txt2img" })
            let basic = "Basic " + Data(w.fakes.keys[.a1111]!.utf8).base64EncodedString()
            #expect(calls.allSatisfy { E2E.header($0, "Authorization", is: basic) })
            let expected: JSONValue = [
                "prompt": .string(prompt), "negative_prompt": "lowres", "seed": 99, "width": 512, "height": 384, "batch_size": 2, "n_iter": 1,
                "steps": 30, "cfg_scale": 7, "sampler_name": "DPM++ 2M", "send_images": true, "save_images": false,
            ]
            #expect(calls[0].json == expected)

            #expect(first.results.map(\.seed) == [99, 100], "all_seeds from info")
            #expect(first.results.allSatisfy { $0.seedHonored && $0.width == 512 && $0.height == 384 && $0.costUSD == 0 })
            #expect(first.costUSD == 0)
            let served = w.fakes.a1111.served(containing: m)
            #expect(first.results.map(\.sha256) == served.prefix(2).map { E2E.sha($0.bytes) })
            #expect(second.results.map(\.sha256) == first.results.map(\.sha256), "same seeds: the same bytes")
        }
    }

    /// A reference image turns the call into img2img with `init_images` (bare base64 of the checked bytes) and the
    /// default `denoising_strength`.
    @Test func img2imgWithAReference() async throws {
        try await FakeWorld.run("sd-i2i", providers: ["a1111"]) { w in
            let ref = FakeImages.image(label: "ref", prompt: "sketch", seed: 2, width: 64, height: 64)
            let path = w.dir.path + "/sketch.png"
            try Data(ref).write(to: URL(fileURLWithPath: path))
            let job = try await w.run(
                E2E.task(
                    "ink over the sketch \(E2E.marker())", model: "sd-webui",
                    ["width": 256, "height": 256, "seed": 5, "referenceImages": [.string(path)]]))
            #expect(job.status == .succeeded, "\(job.error?.description ?? "")")
            let call = try #require(w.fakes.a1111.log.all.first)
            #expect(call.uri == "/sdapi/v1/img2img")
            #expect(call.json?["init_images"] == [.string(FakeImages.base64(ref))])
            #expect(call.json?["denoising_strength"] == 0.75)
            #expect(job.results.first?.seed == 5)
        }
    }

    /// CUDA out of memory (500) is `unavailable` and retried; a connection reset mid-body too, until the attempts
    /// (2 in a1111.json) run out.
    @Test func outOfMemoryAndResetAreRetried() async throws {
        try await FakeWorld.run("sd-err", providers: ["a1111"]) { w in
            let oom = try await w.run(E2E.task("a big one \(E2E.marker()) [fake:oom-once]", model: "sd-webui", ["width": 512, "height": 512]))
            #expect(oom.status == .succeeded)
            #expect(oom.attempts.count == 2)
            #expect(oom.attempts.first?.error?.code == .unavailable)
            #expect(oom.attempts.first?.error?.message.contains("CUDA out of memory") == true)

            let reset = try await w.run(E2E.task("a cut line \(E2E.marker()) [fake:reset]", model: "sd-webui", ["width": 512, "height": 512]))
            #expect(reset.status == .failed)
            #expect(reset.error?.code == .unavailable)
            #expect(reset.attempts.count == 2)
            #expect(w.fakes.a1111.log.all.count == 4)
        }
    }
}
