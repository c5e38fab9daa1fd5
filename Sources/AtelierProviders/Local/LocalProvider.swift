import AtelierCore
import AtelierImaging
import Dispatch
import Foundation

/// The built-in offline renderer: draws a deterministic image from (prompt, negative prompt, seed, size,
/// reference images). Same inputs → byte-identical file. Costs nothing and needs no key or network.
///
/// Image `i` of a task uses seed `seed + i`, as AUTOMATIC1111 does for batches. Reference images influence the
/// picture through their SHA-256, so a result anchored on a reference is reproducible too.
public struct LocalProvider: Provider {
    public let id: String

    /// Work runs on this queue, off Swift's cooperative pool, so long renders never starve the daemon.
    private static let queue = DispatchQueue(label: "atelier.local-render", qos: .userInitiated, attributes: .concurrent)

    public init(id: String = "local") { self.id = id }

    public func generate(_ request: GenerationRequest, context: GenerationContext) async throws(ProviderError) -> [GeneratedImage] {
        guard let seed = request.seed else { throw ProviderError(.invalidRequest, "the local renderer needs a seed") }
        var images: [GeneratedImage] = []
        for i in 0..<request.task.numberResults {
            if Task.isCancelled || context.isCancelled { throw ProviderError(.cancelled, "cancelled") }
            let imageSeed = seed &+ Int64(i)
            let path = request.scratchDirectory + "/\(request.attemptKey)-\(i).\(request.task.outputFormat.fileExtension)"
            try await Self.renderFile(request: request, seed: imageSeed, to: path)
            // The catalog's figure: $0 for the built-in card, its price for a priced stand-in on the local kind.
            let cost = request.model.catalogCost(size: request.size, referenceImages: request.references.count)
            images.append(
                GeneratedImage(
                    path: path, mimeType: request.task.outputFormat.mimeType, seed: imageSeed, costUSD: cost.usd,
                    sentParameters: Self.parameters(request, seed: imageSeed), costSource: cost.source))
        }
        return images
    }

    /// The parameters that determine the output (for recipes).
    static func parameters(_ request: GenerationRequest, seed: Int64) -> JSONObject {
        var p: JSONObject = [
            "renderer": .string(request.model.upstreamID), "seed": .int(seed), "width": .int(Int64(request.size.pixels.width)),
            "height": .int(Int64(request.size.pixels.height)), "outputFormat": .string(request.task.outputFormat.rawValue),
        ]
        if !request.references.isEmpty { p.append("referenceSHA256", .array(request.references.map { .string($0.sha256) })) }
        return p
    }

    /// The renderer's 64-bit seed: the task seed mixed with the references' digests.
    static func effectiveSeed(_ seed: Int64, references: [LoadedReference]) -> UInt64 {
        var s = UInt64(bitPattern: seed)
        for r in references {
            s = (s ^ StableHash.fnv1a64Unmixed(r.sha256)) &* 0x9E37_79B9_7F4A_7C15
        }
        return s
    }

    private static func renderFile(request: GenerationRequest, seed: Int64, to path: String) async throws(ProviderError) {
        let task = request.task
        let size = request.size.pixels
        let s = effectiveSeed(seed, references: request.references)
        let result: Result<Void, ProviderError> = await withCheckedContinuation { cont in
            queue.async {
                let image = LocalRenderer.render(
                    prompt: task.positivePrompt, negativePrompt: task.negativePrompt, seed: s, width: size.width, height: size.height)
                let bytes: [UInt8]
                switch task.outputFormat {
                case .png:
                    bytes = PNGEncoder.encode(image, text: [("Software", "Atelier local renderer"), ("Seed", String(seed))])
                case .jpg:
                    do { bytes = try JPEGEncoder.encode(image, quality: 92) } catch {
                        cont.resume(returning: .failure(ProviderError(.invalidRequest, "JPEG encoding failed: \(error)")))
                        return
                    }
                case .webp:
                    // Lossless: the exact rendered pixels, the same bytes for the same inputs. Effort 0: at 1024² about 50 ms and
                    // a file smaller than the PNG; higher efforts save ~25 % more for 5-8x the time.
                    do { bytes = try WebPEncoder.encode(image, compression: .lossless(effort: 0)) } catch {
                        cont.resume(returning: .failure(ProviderError(.invalidRequest, "WEBP encoding failed: \(error)")))
                        return
                    }
                }
                if FileManager.default.createFile(atPath: path, contents: Data(bytes)) {
                    cont.resume(returning: .success(()))
                } else {
                    cont.resume(returning: .failure(ProviderError(.unavailable, "cannot write \(path)")))
                }
            }
        }
        try result.get()
    }
}
