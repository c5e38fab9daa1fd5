import AtelierCore
import AtelierEngine

// The wire form of what the engine reports (docs/protocol.md): the engine returns typed values, the server
// renders them here, member order included.

extension ModelAvailability {
    /// A `models.list` entry: the catalog card's members, then `available` and `unavailableReason`.
    var json: JSONValue {
        var o = card.json.objectValue ?? [:]
        o.append("available", .bool(isAvailable))
        o.append("unavailableReason", unavailableReason.map(JSONValue.string) ?? .null)
        return .object(o)
    }
}

extension EngineHealth {
    /// `{status, reasons, version, uptimeSeconds, queued, running, draining, store, breakers}`, then `delivery`
    /// when given, then `cluster` in PostgreSQL mode; `extraReasons` (the delivery backlog's) join the engine's and
    /// make the status `degraded` too. `store` carries the store's `kind`; no store location or credential appears.
    func json(extraReasons: [String] = [], delivery: JSONValue? = nil) -> JSONValue {
        let all = reasons + extraReasons
        var storeJSON = store.json.objectValue ?? [:]
        storeJSON.append("kind", .string(storeKind.rawValue))
        var o: JSONObject = [
            "status": .string(all.isEmpty ? "ok" : "degraded"), "reasons": .array(all.map(JSONValue.string)), "version": .string(version),
            "uptimeSeconds": .number(uptimeSeconds), "queued": .int(Int64(queued)), "running": .int(Int64(running)),
            "draining": .bool(draining), "store": .object(storeJSON),
        ]
        o.append("breakers", .array(openBreakers.map { ["model": .string($0.model), "reason": .string($0.reason)] }))
        o.append("delivery", ifPresent: delivery)
        o.append("cluster", ifPresent: cluster?.json)
        return .object(o)
    }
}

extension EngineHealth.ClusterHealth {
    /// `{daemon, daemons: [{id, startedAt, lastSeen, info}]}` (`daemons`: the other live daemons, null when unread).
    var json: JSONValue {
        let list: JSONValue =
            others.map { daemons in
                .array(
                    daemons.map { d in
                        [
                            "id": .string(d.id), "startedAt": .string(d.startedAt.iso8601), "lastSeen": .string(d.lastSeen.iso8601),
                            "info": .string(d.info),
                        ]
                    })
            } ?? .null
        return ["daemon": .string(daemonID), "daemons": list]
    }
}

extension StoreCondition.Status {
    /// `daemon.health`'s `store`: `{ok, error, since}` (error and since are null when ok).
    var json: JSONValue {
        ["ok": .bool(ok), "error": error.map(JSONValue.string) ?? .null, "since": since.map { .string($0.iso8601) } ?? .null]
    }
}

extension StatsReport {
    /// `{since, groups: [...], budgets: [...], by}`.
    func json(by: String) -> JSONValue {
        func number(_ d: Double?) -> JSONValue { d.map(JSONValue.number) ?? .null }
        let groups: [JSONValue] = groups.map { g in
            [
                "group": .string(g.group), "jobs": .int(Int64(g.jobs)), "succeeded": .int(Int64(g.succeeded)), "failed": .int(Int64(g.failed)),
                "cancelled": .int(Int64(g.cancelled)), "unfinished": .int(Int64(g.unfinished)), "successRate": number(g.successRate),
                "refusals": .int(Int64(g.refusals)), "costUSD": .number(g.costUSD), "unknownCostJobs": .int(Int64(g.unknownCostJobs)),
                "latencyP50Seconds": number(g.latencyP50Seconds),
                "latencyP95Seconds": number(g.latencyP95Seconds), "mismatches": .int(Int64(g.mismatches)),
                "consistencyJobs": .int(Int64(g.consistencyJobs)), "meanBestScore": number(g.meanBestScore),
                "meanSamplesToMinScore": number(g.meanSamplesToMinScore),
            ]
        }
        let budgets: [JSONValue] = budgets.map { b in
            [
                "tag": .string(b.tag), "value": .string(b.value), "period": .string(b.period.rawValue), "capUSD": .number(b.capUSD),
                "spentUSD": .number(b.spentUSD), "remainingUSD": .number(b.remainingUSD),
            ]
        }
        return ["since": .string(since.iso8601), "groups": .array(groups), "budgets": .array(budgets), "by": .string(by)]
    }
}

extension ReloadSummary {
    /// `{reloaded: true, providers, models, available, rules}`.
    var json: JSONValue {
        [
            "reloaded": true, "providers": .int(Int64(providers)), "models": .int(Int64(models)), "available": .int(Int64(available)),
            "rules": .int(Int64(rules)),
        ]
    }
}

extension ModelVerificationReport {
    /// `{providers, models, missing, deprecated, retired, retiredButListed, skipped, uncatalogued}`: catalog models a
    /// provider no longer lists (`missing`), and image models a provider lists that the catalog lacks (`uncatalogued`,
    /// per provider and in all).
    var json: JSONValue {
        let ps: [JSONValue] = providers.map { p in
            var o: JSONObject = ["provider": .string(p.provider), "status": .string(p.status)]
            o.append("reason", ifPresent: p.reason.map(JSONValue.string))
            o.append("error", ifPresent: p.error?.json)
            o.append("uncatalogued", ifPresent: p.uncatalogued.map { .array($0.map(JSONValue.string)) })
            return .object(o)
        }
        let ms: [JSONValue] = models.map { m in
            var o: JSONObject = [
                "id": .string(m.id), "provider": .string(m.provider), "upstreamId": .string(m.upstreamID),
                "catalogStatus": .string(m.catalogStatus.rawValue),
                "upstream": .string(m.upstream),
            ]
            o.append("replacedBy", ifPresent: m.replacedBy.map(JSONValue.string))
            return .object(o)
        }
        func ids(_ a: [String]) -> JSONValue { .array(a.map(JSONValue.string)) }
        return [
            "providers": .array(ps), "models": .array(ms), "missing": ids(missing), "deprecated": ids(deprecated), "retired": ids(retired),
            "retiredButListed": ids(retiredButListed), "skipped": ids(skipped),
            "uncatalogued": .array(uncatalogued.map { ["provider": .string($0.provider), "upstreamId": .string($0.upstreamID)] }),
        ]
    }
}
