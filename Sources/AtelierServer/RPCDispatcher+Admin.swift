import AtelierCore
import AtelierEngine
import AtelierRPC

extension RPCDispatcher {
    /// `daemon.health`, `config.reload`, `stats.get`.
    static let adminHandlers: [String: Handler] = [
        RPCMethod.daemonHealth: { d, params, _ throws(AtelierError) in
            let r = try FieldReader(params)
            try r.finish()
            return await d.health()
        },
        RPCMethod.configReload: { d, params, _ throws(AtelierError) in
            let r = try FieldReader(params)
            try r.finish()
            guard let source = d.services.configSource else {
                throw AtelierError(.invalidValue, "this daemon was started without a reloadable configuration")
            }
            return try await d.engine.reload(from: source)
        },
        RPCMethod.statsGet: { d, params, _ throws(AtelierError) in
            var r = try FieldReader(params)
            let byText = try r.string("by") ?? "model"
            guard let by = StatsGrouping(byText) else {
                throw AtelierError(
                    .invalidValue, "by must be model, provider, arm or tag:<name>, not '\(byText.prefix(40))'", field: r.pointer("by"),
                    details: ["allowed": ["model", "provider", "arm", "tag:<name>"]])
            }
            let hours = try r.double("sinceHours") ?? 24
            guard hours > 0, hours <= 24 * 366 else {
                throw AtelierError(.invalidValue, "sinceHours must be between 0 and 8784", field: r.pointer("sinceHours"))
            }
            try r.finish()
            var result = try await d.engine.stats(by: by, since: Timestamp.now().adding(seconds: -hours * 3600))
            if case .object(var o) = result {
                o["by"] = .string(byText)
                result = .object(o)
            }
            return result
        },
    ]
}

extension RPCDispatcher {
    /// `daemon.health`: the engine's view (store, breakers, counts) plus the delivery backlog. `status` is
    /// `degraded` when any part is: the store cannot commit, a breaker is open, or delivery rows are overdue;
    /// `reasons` lists why.
    func health() async -> JSONValue {
        guard case .object(var o) = await engine.health() else { return await engine.health() }
        var reasons = o["reasons"]?.arrayValue ?? []
        if let delivery = services.delivery {
            do {
                let backlog = try await delivery.backlog()
                o.append("delivery", backlog.json)
                if backlog.overdue > 0 {
                    reasons.append(.string("\(backlog.overdue) delivery attempt\(backlog.overdue == 1 ? " is" : "s are") overdue"))
                }
            } catch {
                o.append("delivery", .null)
                reasons.append(.string("the delivery outbox cannot be read"))
            }
        }
        o["reasons"] = .array(reasons)
        o["status"] = .string(reasons.isEmpty ? "ok" : "degraded")
        return .object(o)
    }
}
