import AtelierCore
import AtelierRPC

extension AtelierClient {
    /// `models.list`: the catalog's models with availability, grades and prices.
    public func models() async throws -> [ModelListing] {
        guard let models = try await call(RPCMethod.modelsList)["models"]?.arrayValue else {
            throw AtelierClientError.badResponse("models.list without models")
        }
        return try models.map { m throws(AtelierClientError) in try ModelListing(m) }
    }

    /// `models.verify`: which configured model ids each provider with a key lists today (all providers when nil).
    public func verifyModels(providers: [String]? = nil) async throws -> JSONValue {
        var p = JSONObject()
        p.append("providers", ifPresent: providers.map { .array($0.map(JSONValue.string)) })
        return try await call(RPCMethod.modelsVerify, params: .object(p))
    }

    /// `daemon.health`: `status` (`ok` or `degraded`) with `reasons`, the store, breakers, counts and delivery backlog.
    public func health() async throws -> DaemonHealth { try DaemonHealth(await call(RPCMethod.daemonHealth)) }

    /// `stats.get`: per-group jobs, success, refusals, cost and latency, and budget spend, over the last `sinceHours`.
    /// - Parameter by: `model`, `provider`, `arm` or `tag:<name>`.
    /// - Returns: the report, and the answer as the daemon sent it (`{since, groups, budgets, by}`).
    public func stats(by: String = "model", sinceHours: Double = 24) async throws -> (report: StatsReport, json: JSONValue) {
        let answer = try await call(RPCMethod.statsGet, params: ["by": .string(by), "sinceHours": .number(sinceHours)])
        return (try StatsReport(reading: answer), answer)
    }

    /// `config.reload`: re-reads providers and routing, validates, swaps; returns the counts now in force.
    /// - Returns: the counts, and the answer as the daemon sent it.
    public func reloadConfiguration() async throws -> (summary: ReloadSummary, json: JSONValue) {
        let answer = try await call(RPCMethod.configReload)
        return (try ReloadSummary(reading: answer), answer)
    }
}
