/// Why a protected region (`preserve`, docs/consistency.md) could not be built, measured or composited.
public enum ProtectedRegionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The rectangle does not lie wholly inside the reference image.
    case rectOutsideImage(x: Int, y: Int, width: Int, height: Int, imageWidth: Int, imageHeight: Int)
    /// The mask's aspect ratio differs from the reference's by more than ``KeepMask/aspectTolerance``.
    case maskAspectMismatch(maskWidth: Int, maskHeight: Int, imageWidth: Int, imageHeight: Int)
    /// The region keeps no pixel (an all-black mask, or one that vanishes at the result's size).
    case emptyRegion
    /// The region's bounding box is too small for SSIM's 11×11 window.
    case tooSmallToScore(SSIMError)
    /// The composited image could not be written in the result's format.
    case encoding(ImageEncodingError)
    /// The result's format cannot be written (GIF).
    case unsupportedFormat(ImageFormat)

    /// A one-line explanation for error messages.
    public var description: String {
        switch self {
        case .rectOutsideImage(let x, let y, let w, let h, let iw, let ih):
            "preserve.rect (\(x), \(y), \(w)×\(h)) is not inside the \(iw)×\(ih) reference image"
        case .maskAspectMismatch(let mw, let mh, let iw, let ih):
            "the \(mw)×\(mh) mask does not have the aspect ratio of the \(iw)×\(ih) reference image"
        case .emptyRegion: "the protected region keeps no pixel"
        case .tooSmallToScore(let e): "the protected region cannot be scored: \(e)"
        case .encoding(let e): "the composited image could not be encoded: \(e)"
        case .unsupportedFormat(let f): "cannot write a composited \(f.rawValue) image"
        }
    }
}
