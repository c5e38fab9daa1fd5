import AtelierCore
import AtelierImaging
import AtelierProviders
import Foundation

/// The pixel work of best-of-N and `preserve` (docs/consistency.md): decoding the references, the mask and each
/// candidate, SSIM scores, region measurements and the composite. Every function here is CPU or file work of
/// milliseconds to tens of milliseconds, so each public entry point runs its body on NIO's thread pool
/// (``BlockingWork``), never on Swift's cooperative pool.
struct ConsistencyScoring: Sendable {
    /// The images scored against (`consistency.against`), decoded and composited over white once (as SSIM scores
    /// them), not again for every candidate; empty without `consistency`.
    var against: [RGBImage]
    /// The protected image (the task's first reference) and the region in its pixels; nil without `preserve`.
    var region: (reference: DecodedImage, mask: KeepMask)?

    /// One candidate's scores.
    struct Scores: Sendable {
        /// The best SSIM against any of ``ConsistencyScoring/against``; nil without `consistency`.
        var consistency: Double?
        /// The protected region's drift; nil without `preserve` (or, under `composite`, when the region is too
        /// small to score).
        var region: RegionMeasurement?
    }

    /// Decodes the inputs off the pool. `against` are the bytes scored against, `protected` the first reference's
    /// bytes and `region` the task's protected region (`maskBytes` for a mask).
    /// - Throws: `invalid_request` naming the field: an image that does not decode (`/consistency/against`,
    ///   `/referenceImages/0`, `/preserve/mask`), a rect outside the image (`/preserve/rect`), a mask of another
    ///   aspect ratio or keeping nothing (`/preserve/mask`).
    static func prepare(
        against: [(bytes: [UInt8], field: String)], protected: [UInt8]?, region: PreserveRequest.Region?, maskBytes: [UInt8]?
    ) async throws(ProviderError) -> ConsistencyScoring {
        let outcome: Result<ConsistencyScoring, ProviderError>
        do {
            outcome = try await BlockingWork.run {
                do throws(ProviderError) {
                    return .success(try prepareBlocking(against: against, protected: protected, region: region, maskBytes: maskBytes))
                } catch {
                    return .failure(error)
                }
            }
        } catch {
            throw ProviderError(.unavailable, "the image thread pool is not running: \(error)")
        }
        return try outcome.get()
    }

    private static func decode(_ bytes: [UInt8], field: String) throws(ProviderError) -> DecodedImage {
        do { return try ImageDecoder.decode(bytes) } catch {
            throw ProviderError(.invalidRequest, "\(field) is not an image that can be decoded: \(error)", field: field)
        }
    }

    private static func prepareBlocking(
        against: [(bytes: [UInt8], field: String)], protected: [UInt8]?, region: PreserveRequest.Region?, maskBytes: [UInt8]?
    ) throws(ProviderError) -> ConsistencyScoring {
        var decoded: [RGBImage] = []
        for a in against { decoded.append(try decode(a.bytes, field: a.field).rgbImage(background: .white)) }
        guard let protected, let region else { return ConsistencyScoring(against: decoded, region: nil) }
        let reference = try decode(protected, field: "/referenceImages/0")
        let mask: KeepMask
        switch region {
        case .rect(let r):
            do {
                mask = try KeepMask.rect(
                    x: r.x, y: r.y, width: r.width, height: r.height, imageWidth: reference.width, imageHeight: reference.height)
            } catch { throw ProviderError(.invalidRequest, error.description, field: "/preserve/rect") }
        case .mask:
            let image = try decode(maskBytes ?? [], field: "/preserve/mask")
            do { mask = try KeepMask.image(image, imageWidth: reference.width, imageHeight: reference.height) } catch {
                throw ProviderError(.invalidRequest, error.description, field: "/preserve/mask")
            }
        }
        return ConsistencyScoring(against: decoded, region: (reference, mask))
    }

    /// Scores the stored image at `path` off the pool: SSIM against each reference (the best counts) and, with a
    /// region, its measurement (`measureRequired`: a region too small to score is an error; else it is left out).
    func score(path: String, measureRequired: Bool) async throws(ProviderError) -> Scores {
        let scoring = self
        let outcome: Result<Scores, ProviderError>
        do {
            outcome = try await BlockingWork.run {
                do throws(ProviderError) {
                    return .success(try scoring.scoreBlocking(path: path, measureRequired: measureRequired))
                } catch {
                    return .failure(error)
                }
            }
        } catch {
            throw ProviderError(.unavailable, "the image thread pool is not running: \(error)")
        }
        return try outcome.get()
    }

    private func readResult(_ path: String) throws(ProviderError) -> DecodedImage {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ProviderError(.unavailable, "cannot read the stored candidate image", retryAfterSeconds: nil)
        }
        do { return try ImageDecoder.decode(data) } catch {
            throw ProviderError(.badUpstream, "the provider's image cannot be decoded for scoring: \(error)")
        }
    }

    private func scoreBlocking(path: String, measureRequired: Bool) throws(ProviderError) -> Scores {
        let image = try readResult(path)
        var scores = Scores()
        if !against.isEmpty {
            var best = -Double.infinity
            let candidate = image.rgbImage(background: .white)
            for reference in against {
                do { best = max(best, try SSIM.score(reference, candidate)) } catch {
                    throw ProviderError(.invalidRequest, "the candidate cannot be scored against the reference: \(error)", field: "/consistency")
                }
            }
            scores.consistency = best
        }
        if let region {
            do { scores.region = try ProtectedRegion.measure(reference: region.reference, result: image, mask: region.mask) } catch {
                if measureRequired { throw ProviderError(.invalidRequest, error.description, field: "/preserve") }
            }
        }
        return scores
    }

    /// The stored image at `path` with the reference's protected pixels pasted in, written in its own format next to
    /// it as `destination` (off the pool). Deterministic: the same inputs give the same bytes.
    func composite(path: String, destination: String) async throws(ProviderError) {
        let scoring = self
        let outcome: Result<Void, ProviderError>
        do {
            outcome = try await BlockingWork.run {
                do throws(ProviderError) {
                    return .success(try scoring.compositeBlocking(path: path, destination: destination))
                } catch {
                    return .failure(error)
                }
            }
        } catch {
            throw ProviderError(.unavailable, "the image thread pool is not running: \(error)")
        }
        try outcome.get()
    }

    private func compositeBlocking(path: String, destination: String) throws(ProviderError) {
        guard let region else { return }
        let image = try readResult(path)
        let bytes: [UInt8]
        do { bytes = try ProtectedRegion.compositeEncoded(reference: region.reference, result: image, mask: region.mask) } catch {
            throw ProviderError(.invalidRequest, error.description, field: "/preserve/mode")
        }
        guard FileManager.default.createFile(atPath: destination, contents: Data(bytes)) else {
            throw ProviderError(.unavailable, "cannot write the composited image", retryAfterSeconds: nil)
        }
    }
}
