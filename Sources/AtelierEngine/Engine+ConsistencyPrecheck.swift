import AtelierCore
import AtelierImaging
import Foundation

/// Submit-time checks of `consistency` and `preserve` that need more than the task's JSON (docs/consistency.md):
/// one image per candidate, and — for images available without the network (files, data URIs, base64) — the
/// protected region against the reference image's size and the mask's aspect ratio, read from the image headers
/// on NIO's thread pool. URL references are checked when the job runs (the attempt fails with the same field).
extension Engine {
    /// Refuses with `-32602` and the field: `consistency` with `numberResults` above 1 (`/numberResults`), an
    /// `against` image or mask that is not an image (`invalid_reference_image`), a rect outside the first reference
    /// (`/preserve/rect`), a mask of another aspect ratio (`/preserve/mask`).
    static func precheckConsistency(_ task: ImageTask) async throws(AtelierError) {
        if task.consistency != nil && task.numberResults != 1 {
            throw AtelierError(
                .invalidValue, "consistency keeps one image of N candidates: numberResults must be 1, not \(task.numberResults)",
                field: "/numberResults")
        }
        if case .image(let image)? = task.consistency?.against {
            _ = try await headerInfo(image, field: "/consistency/against")
        }
        guard let preserve = task.preserve, let first = task.referenceImages.first else { return }
        let reference = try await headerInfo(first, field: "/referenceImages/0")
        switch preserve.region {
        case .rect(let r):
            guard let reference else { return }
            do {
                _ = try KeepMask.rect(x: r.x, y: r.y, width: r.width, height: r.height, imageWidth: reference.width, imageHeight: reference.height)
            } catch {
                throw AtelierError(
                    .invalidValue, error.description, field: "/preserve/rect",
                    details: ["imageWidth": .int(Int64(reference.width)), "imageHeight": .int(Int64(reference.height))])
            }
        case .mask(let m):
            guard let mask = try await headerInfo(m, field: "/preserve/mask"), let reference else { return }
            let cross = abs(Double(mask.width * reference.height) - Double(reference.width * mask.height))
            if cross > KeepMask.aspectTolerance * Double(reference.width * mask.height) {
                throw AtelierError(
                    .invalidValue,
                    ProtectedRegionError.maskAspectMismatch(
                        maskWidth: mask.width, maskHeight: mask.height, imageWidth: reference.width, imageHeight: reference.height
                    ).description, field: "/preserve/mask")
            }
        }
    }

    /// The header (format, size) of an image given by reference, read off the pool for a file; nil for a URL (not
    /// fetched at submit).
    /// - Throws: `invalid_reference_image` at `field` when it cannot be read or is not a PNG, JPEG, WebP or GIF image.
    private static func headerInfo(_ image: ReferenceImage, field: String) async throws(AtelierError) -> ImageInfo? {
        let info: ImageInfo?
        switch image {
        case .url:
            return nil
        case .file(let path):
            info = try? await BlockingWork.run { ReferenceLoader.isRegularFile(path) ? ImageProbe.probe(fileAt: path) : nil }
        case .dataURI(_, let b64), .base64(let b64):
            // Only the header is needed: decode the first few KiB of base64 (a multiple of 4 characters).
            let prefix = b64.utf8.prefix(65536)
            let cut = prefix.count - prefix.count % 4
            info =
                Data(base64Encoded: Data(prefix.prefix(cut)), options: .ignoreUnknownCharacters).flatMap { ImageProbe.probe($0) }
                ?? (b64.utf8.count > 65536 ? Data(base64Encoded: b64, options: .ignoreUnknownCharacters).flatMap { ImageProbe.probe($0) } : nil)
        }
        guard let info else {
            throw AtelierError(.invalidReferenceImage, "\(field) is not a readable PNG, JPEG, WEBP or GIF image", field: field)
        }
        return info
    }
}
