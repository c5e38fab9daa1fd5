/// How much a protected region drifted between the reference and the result (`result.preserve`).
public struct RegionMeasurement: Sendable, Equatable {
    /// SSIM (``SSIM``) of the region's bounding box, pixels outside the region taken from the reference in both
    /// images so only the protected pixels count; 1 when they are identical.
    public var score: Double
    /// Protected pixels whose largest channel difference exceeds ``ProtectedRegion/changedPixelThreshold``.
    public var changedPixels: Int
    /// The number of protected pixels (at the result's size).
    public var protectedPixels: Int

    /// Creates a measurement.
    public init(score: Double, changedPixels: Int, protectedPixels: Int) {
        self.score = score
        self.changedPixels = changedPixels
        self.protectedPixels = protectedPixels
    }
}
