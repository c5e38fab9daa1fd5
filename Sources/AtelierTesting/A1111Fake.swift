import AtelierCore
import Foundation
import Synchronization

/// A loopback AUTOMATIC1111 / Forge server (`--api`, optionally `--api-auth user:pass`).
///
/// - `POST /sdapi/v1/txt2img` and `/sdapi/v1/img2img` → `{images:[base64 PNG…], parameters:{…echo…},
///   info:"<JSON string>"}`; `info` holds `seed`, `all_seeds` (seed, seed+1, … for a batch), `subseed`,
///   `sd_model_name`, `infotexts`, …. `seed: -1` picks a random seed. The seed is honoured: same prompt, seed and
///   size → the same bytes.
/// - `GET /sdapi/v1/sd-models` → `[{title, model_name, hash, sha256, filename, config}]`; `GET /sdapi/v1/options`.
/// - With ``credentials`` set, every call needs `Authorization: Basic base64(user:pass)` (401 otherwise).
///
/// Scenarios: `oom` (500 `OutOfMemoryError`), `no-image` (200 with `images: []`), `invalid` (422 `detail[]`),
/// `503`, `rate-limit` (429), `malformed`, `reset`.
public final class A1111Fake: FakeProvider {
    public let name = "a1111"
    /// `user:pass`, or nil when the server runs without `--api-auth`.
    public let credentials: String?
    public let log: FakeRequestLog
    public let script = FakeScript(provider: "a1111")
    public let server: FakeHTTPServer
    public var baseURL: String { server.baseURL }

    private struct State {
        var checkpoints: [String]
        var served: [FakeServedImage] = []
    }

    private let state: Mutex<State>

    public static let defaultCheckpoints = ["sd_xl_base_1.0.safetensors [31e35c80fc]", "flux1-dev-fp8.safetensors [8e91b68084]"]

    private init(credentials: String?, server: FakeHTTPServer, log: FakeRequestLog, checkpoints: [String]) {
        self.credentials = credentials
        self.server = server
        self.log = log
        self.state = Mutex(State(checkpoints: checkpoints))
    }

    /// Starts the fake on an ephemeral loopback port.
    public static func start(credentials: String? = nil, checkpoints: [String] = defaultCheckpoints) async throws -> A1111Fake {
        let box = WeakRef<A1111Fake>()
        let log = FakeRequestLog()
        let server = try await FakeHTTPServer.start(host: "api", log: log) { req in
            guard let me = box.value else { return .respond(status: 503, headers: [], body: []) }
            return me.handle(req)
        }
        let fake = A1111Fake(credentials: credentials, server: server, log: log, checkpoints: checkpoints)
        box.set(fake)
        return fake
    }

    public func shutdown() async { await server.shutdown() }

    public var served: [FakeServedImage] { state.withLock { $0.served } }

    func handle(_ req: RecordedRequest) -> FakeReply {
        if let credentials {
            let expected = "Basic " + Data(credentials.utf8).base64EncodedString()
            guard req.header("Authorization") == expected else {
                return .json(401, ["detail": "Incorrect username or password"], headers: [("WWW-Authenticate", "Basic")])
            }
        }
        switch (req.method, req.path) {
        case ("POST", "/sdapi/v1/txt2img"): return generate(req, img2img: false)
        case ("POST", "/sdapi/v1/img2img"): return generate(req, img2img: true)
        case ("GET", "/sdapi/v1/sd-models"):
            let (failure, _) = script.decide(stage: .list, prompt: nil)
            if failure == .unavailable { return .json(503, ["detail": "Service Unavailable"]) }
            let list: [JSONValue] = state.withLock { $0.checkpoints }.map { title in
                let file = String(title.split(separator: " ").first ?? Substring(title))
                let name = file.replacingOccurrences(of: ".safetensors", with: "")
                return [
                    "title": .string(title), "model_name": .string(name), "hash": .string(String(title.suffix(11).dropLast().dropFirst())),
                    "sha256": .string(String(repeating: "ab", count: 32)), "filename": .string("/models/Stable-diffusion/\(file)"), "config": .null,
                ]
            }
            return .json(200, .array(list))
        case ("GET", "/sdapi/v1/options"):
            return .json(200, ["sd_model_checkpoint": .string(state.withLock { $0.checkpoints.first ?? "" }), "samples_format": "png"])
        default:
            return .json(404, ["detail": "Not Found"])
        }
    }

    private func generate(_ req: RecordedRequest, img2img: Bool) -> FakeReply {
        guard let body = req.json, case .object(let o) = body else {
            return .json(422, ["detail": [["loc": ["body"], "msg": "value is not a valid dict", "type": "type_error.dict"]]])
        }
        let prompt = o["prompt"]?.stringValue ?? ""
        let (failure, _) = script.decide(stage: .generate, prompt: prompt)
        switch failure {
        case .oom?:
            return .json(
                500,
                [
                    "error": "OutOfMemoryError", "detail": "", "body": "",
                    "errors": "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 8.00 GiB total capacity; 6.12 GiB already allocated)",
                ])
        case .noImage?: return .json(200, ["images": [], "parameters": .object(o), "info": "{}"])
        case .invalid?:
            return .json(422, ["detail": [["loc": ["body", "width"], "msg": "ensure this value is a multiple of 8", "type": "value_error"]]])
        case .unavailable?: return .json(503, ["detail": "Service Unavailable"])
        case .rateLimited?: return .json(429, ["detail": "Too Many Requests"])
        case .malformed?: return .malformedJSON(#"{"images":["iVBORw0KGgoAAAANSUhEUgAAAgAAAAIACAIAAAB7GkOtAAA"#)
        case .reset?:
            let png = FakeImages.image(label: "a1111", prompt: "reset", seed: 1, width: 64, height: 64)
            let full = JSONWriter.bytes(["images": [.string(FakeImages.base64(png))], "parameters": [:], "info": "{}"])
            return .resetMidBody(status: 200, headers: [("Content-Type", "application/json")], body: full, afterBytes: full.count / 2)
        default: break
        }
        let width = Int(o["width"]?.intValue ?? 512)
        let height = Int(o["height"]?.intValue ?? 512)
        for (name, v) in [("width", width), ("height", height)] where v < 64 || v > 4096 {
            return .json(
                422, ["detail": [["loc": ["body", .string(name)], "msg": "ensure this value is between 64 and 4096", "type": "value_error"]]])
        }
        let batch = Int(o["batch_size"]?.intValue ?? 1)
        let iterations = Int(o["n_iter"]?.intValue ?? 1)
        guard batch >= 1, iterations >= 1, batch * iterations <= 64 else {
            return .json(422, ["detail": [["loc": ["body", "batch_size"], "msg": "ensure this value is between 1 and 64", "type": "value_error"]]])
        }
        var mix: UInt64 = 0
        if img2img {
            guard let inits = o["init_images"]?.arrayValue, let first = inits.first?.stringValue, Data(base64Encoded: first) != nil else {
                return .json(422, ["detail": [["loc": ["body", "init_images"], "msg": "field required", "type": "value_error.missing"]]])
            }
            // The reference shapes the picture (deterministically).
            mix = StableHash.fnv1a64Unmixed(first)
        }
        let requested = o["seed"]?.intValue ?? -1
        let seed: UInt64 = requested < 0 ? FakeImages.randomSeed() : UInt64(requested)
        let n = batch * iterations
        let clean = FakePromptToken.strip(prompt)
        let checkpoint = o["override_settings"]?["sd_model_checkpoint"]?.stringValue ?? state.withLock { $0.checkpoints.first ?? "" }
        var images: [JSONValue] = []
        var seeds: [JSONValue] = []
        for i in 0..<n {
            let s = seed &+ UInt64(i)
            let png = FakeImages.image(label: "a1111", prompt: clean, seed: s ^ mix, width: width, height: height)
            images.append(.string(FakeImages.base64(png)))
            seeds.append(.int(Int64(s)))
            state.withLock { st in
                st.served.append(
                    FakeServedImage(
                        prompt: prompt, model: checkpoint, seed: s, width: width, height: height, bytes: png, mimeType: "image/png",
                        reportedCostUSD: nil,
                        extra: ["endpoint": img2img ? "img2img" : "txt2img"], thoughtImages: []))
            }
        }
        let steps = o["steps"]?.intValue ?? 20
        let cfg = o["cfg_scale"]?.doubleValue ?? 7
        let sampler = o["sampler_name"]?.stringValue ?? "Euler a"
        let negative = o["negative_prompt"]?.stringValue ?? ""
        let infotext =
            "\(prompt)\nNegative prompt: \(negative)\nSteps: \(steps), Sampler: \(sampler), CFG scale: \(cfg), Seed: \(seed), Size: \(width)x\(height), Model: \(checkpoint)"
        let info: JSONValue = [
            "prompt": .string(prompt), "all_prompts": .array(Array(repeating: .string(prompt), count: n)), "negative_prompt": .string(negative),
            "all_negative_prompts": .array(Array(repeating: .string(negative), count: n)), "seed": .int(Int64(seed)), "all_seeds": .array(seeds),
            "subseed": 1_234_567, "all_subseeds": .array(Array(repeating: 1_234_567, count: n)), "subseed_strength": 0, "width": .int(Int64(width)),
            "height": .int(Int64(height)), "sampler_name": .string(sampler), "cfg_scale": .number(cfg), "steps": .int(steps),
            "batch_size": .int(Int64(batch)),
            "restore_faces": false, "face_restoration_model": .null, "sd_model_name": .string(checkpoint), "sd_model_hash": "31e35c80fc",
            "sd_vae_name": .null, "denoising_strength": o["denoising_strength"] ?? .null, "extra_generation_params": [:], "index_of_first_image": 0,
            "infotexts": .array(Array(repeating: .string(infotext), count: n)), "styles": [], "job_timestamp": "20261121101000", "clip_skip": 1,
            "is_using_inpainting_conditioning": false, "version": "v1.10.1",
        ]
        var parameters = o
        parameters["init_images"] = nil
        return .json(200, ["images": .array(images), "parameters": .object(parameters), "info": .string(JSONWriter.string(info))])
    }
}
