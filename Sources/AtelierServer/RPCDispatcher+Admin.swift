import AtelierCore
import AtelierEngine
import AtelierRPC

extension RPCDispatcher {
    /// `config.reload`, `stats.get`.
    static let adminHandlers: [String: Handler] = [
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
