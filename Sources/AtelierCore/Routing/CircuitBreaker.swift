/// A circuit breaker for one model, as a value: the engine owns one per model, feeds it outcomes with the time, and
/// turns open breakers into `circuit_open` entries of ``RoutingContext/unavailable``. No clocks inside: every call takes
/// the current time in seconds (any monotonic origin).
///
/// closed —(failureThreshold consecutive failures)→ open —(coolDownSeconds)→ half-open —(probe succeeds)→ closed
///                                                   ↑————————————(probe fails)————————————┘
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: String, Sendable, Equatable {
        /// Calls flow.
        case closed
        /// Calls are skipped until the cool-down ends.
        case open
        /// The cool-down ended: one probe call may go through.
        case halfOpen = "half_open"
    }

    /// Consecutive failures that open the breaker.
    public var failureThreshold: Int
    /// How long an open breaker skips its model, in seconds.
    public var coolDownSeconds: Double
    /// Consecutive failures counted while closed.
    public private(set) var consecutiveFailures: Int = 0
    /// When the breaker last opened (nil while closed).
    public private(set) var openedAt: Double?
    /// True while the half-open probe is in flight.
    public private(set) var probing: Bool = false

    public init(failureThreshold: Int = 5, coolDownSeconds: Double = 30) {
        self.failureThreshold = max(1, failureThreshold)
        self.coolDownSeconds = max(0, coolDownSeconds)
    }

    /// The state at time `now`.
    public func state(at now: Double) -> State {
        guard let t = openedAt else { return .closed }
        return now >= t + coolDownSeconds ? .halfOpen : .open
    }

    /// True when the model should be skipped at `now`: open, or half-open with its probe already out.
    public func isOpen(at now: Double) -> Bool {
        switch state(at: now) {
        case .closed: return false
        case .open: return true
        case .halfOpen: return probing
        }
    }

    /// Asks to send a call at `now`. Closed: yes. Open: no. Half-open: yes for the first caller (the probe), no for the
    /// others until the probe's outcome is recorded.
    public mutating func allowRequest(at now: Double) -> Bool {
        switch state(at: now) {
        case .closed: return true
        case .open: return false
        case .halfOpen:
            if probing { return false }
            probing = true
            return true
        }
    }

    /// Records a call's outcome at `now` and returns the new state. A success closes the breaker; a failure counts
    /// towards opening it, and a failed probe re-opens it for another cool-down.
    @discardableResult
    public mutating func record(success: Bool, at now: Double) -> State {
        if success {
            consecutiveFailures = 0
            openedAt = nil
            probing = false
            return .closed
        }
        switch state(at: now) {
        case .closed:
            consecutiveFailures += 1
            if consecutiveFailures >= failureThreshold { openedAt = now }
        case .halfOpen:
            openedAt = now
            probing = false
        case .open:
            break  // a late failure of a call sent before the breaker opened
        }
        return state(at: now)
    }

    /// Seconds until an open breaker lets a probe through (0 when not open).
    public func secondsUntilProbe(at now: Double) -> Double {
        guard let t = openedAt, state(at: now) == .open else { return 0 }
        return t + coolDownSeconds - now
    }

    /// The `circuit_open` rejection for `model` when the breaker is open at `now`.
    public func rejection(model: String, at now: Double) -> Rejection? {
        guard isOpen(at: now) else { return nil }
        let wait = secondsUntilProbe(at: now)
        let detail = wait > 0 ? "probe in \(Int(wait.rounded(.up)))s" : "probe in flight"
        return Rejection(
            "circuit_open", detail,
            error: AtelierError(
                .unavailable, "\(model) failed \(failureThreshold) times in a row and is paused (\(detail))", retryable: true,
                details: ["retryAfterSeconds": .number(wait.rounded(.up))]))
    }
}

/// The breakers of all models, keyed by model id.
public struct CircuitBreakers: Sendable, Equatable {
    /// The settings new breakers start with.
    public var template: CircuitBreaker
    public private(set) var breakers: [String: CircuitBreaker] = [:]

    public init(failureThreshold: Int = 5, coolDownSeconds: Double = 30) {
        template = CircuitBreaker(failureThreshold: failureThreshold, coolDownSeconds: coolDownSeconds)
    }

    /// The breaker of `model` (a fresh closed one when never used).
    public subscript(model: String) -> CircuitBreaker { breakers[model] ?? template }

    @discardableResult
    public mutating func record(model: String, success: Bool, at now: Double) -> CircuitBreaker.State {
        var b = self[model]
        let s = b.record(success: success, at: now)
        breakers[model] = b
        return s
    }

    public mutating func allowRequest(model: String, at now: Double) -> Bool {
        var b = self[model]
        let ok = b.allowRequest(at: now)
        breakers[model] = b
        return ok
    }

    /// `circuit_open` rejections for every open breaker, for ``RoutingContext/unavailable``.
    public func unavailable(at now: Double) -> [String: Rejection] {
        var out: [String: Rejection] = [:]
        for (m, b) in breakers { if let r = b.rejection(model: m, at: now) { out[m] = r } }
        return out
    }
}
