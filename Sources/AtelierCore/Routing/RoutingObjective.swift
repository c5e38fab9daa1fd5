/// What breaks ties after the task's needs, the rule's `prefer` list and the phase.
public enum RoutingObjective: String, Sendable, Hashable, CaseIterable {
    /// Lowest estimated cost.
    case cheapest
    /// Lowest typical latency.
    case fastest
    /// Highest quality grade.
    case quality
}
