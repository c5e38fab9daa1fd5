/// Conversions between `Duration` and the plain numbers found in configuration files, flags and log messages.
extension Duration {
    /// The duration in seconds, with fractions (`.milliseconds(1500)` is `1.5`).
    public var inSeconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// The duration in whole milliseconds, rounded to the nearest.
    public var inMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + Int64((Double(attoseconds) / 1e15).rounded())
    }
}
