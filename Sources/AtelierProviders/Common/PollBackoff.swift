/// An exponential polling cadence: `first`, then ×`factor` each time, never above `cap`.
public struct PollBackoff: Sendable, Equatable {
    /// The delay before the first poll.
    public var first: Duration
    /// How much each delay grows over the previous one.
    public var factor: Double
    /// The longest delay.
    public var cap: Duration

    /// A cadence of `first`, ×`factor` each time, at most `cap`.
    public init(first: Duration, factor: Double, cap: Duration) {
        self.first = first
        self.factor = factor
        self.cap = cap
    }

    /// The delay before poll number `n` (0 = the first poll).
    public func delay(beforePoll n: Int) -> Duration {
        // In seconds, so the products stay the exact binary fractions the cadences are written in.
        let cap = cap.inSeconds
        var d = first.inSeconds
        var i = 0
        while i < n && d < cap {
            d *= factor
            i += 1
        }
        return .seconds(min(d, cap))
    }

    /// Runware's cadence (the official SDK's): 1 s, ×1.5, at most 10 s.
    public static let runware = PollBackoff(first: .seconds(1), factor: 1.5, cap: .seconds(10))
    /// BFL's cadence: 0.5 s, ×1.5, at most 5 s (BFL images usually finish in seconds).
    public static let bfl = PollBackoff(first: .milliseconds(500), factor: 1.5, cap: .seconds(5))
}
