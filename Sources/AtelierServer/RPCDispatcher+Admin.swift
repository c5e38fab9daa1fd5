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
            return try await d.engine.reload(from: source).json
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
            return try await d.engine.stats(by: by, since: Timestamp.now().adding(seconds: -hours * 3600)).json(by: byText)
        },
    ]
}

extension RPCDispatcher {
    /// `daemon.health`: the engine's view (store, breakers, counts) plus the delivery backlog. `status` is
    /// `degraded` when any part is: the store cannot commit, a breaker is open, or delivery rows are overdue;
    /// `reasons` lists why.
    func health() async -> JSONValue {
        let health = await engine.health()
        guard let delivery = services.delivery else { return health.json() }
        do {
            let backlog = try await delivery.backlog()
            let overdue = backlog.overdue > 0 ? ["\(backlog.overdue) delivery attempt\(backlog.overdue == 1 ? " is" : "s are") overdue"] : []
            return health.json(extraReasons: overdue, delivery: backlog.json)
        } catch {
            return health.json(extraReasons: ["the delivery outbox cannot be read"], delivery: .null)
        }
    }
}
