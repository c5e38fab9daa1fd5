import AtelierCore

/// One catalog model and whether the engine can route to it now (`models.list`).
public struct ModelAvailability: Sendable {
    /// The catalog entry.
    public var card: ModelCard
    /// Why it cannot be routed to now (retired, provider without a key, open circuit breaker); nil when available.
    public var unavailableReason: String?

    /// True when jobs can be routed to it now.
    public var isAvailable: Bool { unavailableReason == nil }

    /// A model with its availability.
    public init(card: ModelCard, unavailableReason: String?) {
        self.card = card
        self.unavailableReason = unavailableReason
    }
}
