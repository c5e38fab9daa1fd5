/// Why ``SSIM`` could not score a pair of images.
public enum SSIMError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The common size is smaller than the 11×11 window in one direction.
    case tooSmall(width: Int, height: Int, minimumSide: Int)
    /// ``SSIM/score(sameSize:_:)`` was given planes of different sizes.
    case sizeMismatch

    /// A one-line explanation for logs and error messages.
    public var description: String {
        switch self {
        case .tooSmall(let w, let h, let minimum):
            "images of \(w)×\(h) pixels are too small for SSIM (each side needs at least \(minimum) pixels)"
        case .sizeMismatch:
            "SSIM needs two planes of the same size"
        }
    }
}
