import AtelierCore
import AtelierRPC

extension AtelierClient {
    /// `models.list`: the catalog's models with availability, grades and prices.
    public func models() async throws -> [JSONValue] {
        guard let models = try await call(RPCMethod.modelsList)["models"]?.arrayValue else {
            throw AtelierClientError.badResponse("models.list without models")
        }
        return models
    }

    /// `models.verify`: which configured model ids each provider with a key lists today (all providers when nil).
    public func verifyModels(providers: [String]? = nil) async throws -> JSONValue {
        var p = JSONObject()
        p.append("providers", ifPresent: providers.map { .array($0.map(JSONValue.string)) })
        return try await call(RPCMethod.modelsVerify, params: .object(p))
    }

    /// `daemon.health`: `status` (`ok` or `degraded`) with `reasons`, the store, breakers, counts and delivery backlog.
    public func health() async throws -> JSONValue { try await call(RPCMethod.daemonHealth) }

    /// `stats.get`: per-group jobs, success, refusals, cost and latency, and budget spend, over the last `sinceHours`.
    /// - Parameter by: `model`, `provider`, `arm` or `tag:<name>`.
    public func stats(by: String = "model", sinceHours: Double = 24) async throws -> JSONValue {
        try await call(RPCMethod.statsGet, params: ["by": .string(by), "sinceHours": .number(sinceHours)])
    }

    /// `config.reload`: re-reads providers and routing, validates, swaps; returns the counts now in force.
    public func reloadConfiguration() async throws -> JSONValue { try await call(RPCMethod.configReload) }
}
