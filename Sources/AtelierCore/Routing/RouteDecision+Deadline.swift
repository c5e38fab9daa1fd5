import Foundation

extension RouteDecision {
    /// The rejection for a deadline or batch code: each is bad input (`requirement_unsatisfiable`, JSON-RPC -32602)
    /// naming `requirements.deadline` or `requirements.batch`.
    func deadlineRejection(_ code: RouteCode, card: ModelCard) -> Rejection {
        let deadline = task.requirements.deadline?.text ?? ""
        switch code {
        case .batchNotSupported:
            return Rejection(
                "batch_not_supported", "\(card.id) has no batch interface",
                error: AtelierError(
                    .requirementUnsatisfiable, "requirements.batch is \"only\" but \(card.id) cannot be batched", field: "/requirements/batch"))
        case .deadlineTooShort:
            let turnaround = core.catalog.providers.first { $0.id == card.provider }?.batch?.turnaroundSeconds ?? 0
            return Rejection(
                "deadline_too_short", "deadline \(deadline) < batch turnaround \(Self.duration(turnaround))",
                error: AtelierError(
                    .requirementUnsatisfiable,
                    "requirements.batch is \"only\" but the deadline \(deadline) leaves less than \(card.provider)'s batch turnaround of \(Self.duration(turnaround))",
                    field: "/requirements/deadline", details: ["turnaroundSeconds": .number(turnaround)]))
        default:
            return Rejection(
                "deadline_passed", deadline,
                error: AtelierError(.requirementUnsatisfiable, "the deadline \(deadline) has already passed", field: "/requirements/deadline"))
        }
    }

    /// `86400` → `24h`, `5400` → `1h30m`, `45` → `45s`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s % 3600 == 0 { return "\(s / 3600)h" }
        if s >= 3600 { return "\(s / 3600)h\((s % 3600) / 60)m" }
        if s % 60 == 0 { return "\(s / 60)m" }
        return "\(s)s"
    }
}
