import AtelierCore
import AtelierRPC

extension AtelierClient {
    /// `delivery.list`: webhook messages and uploads, newest first, optionally filtered (`status`: pending,
    /// delivered or failed; `kind`: webhook or upload); `nextCursor` continues the list.
    public func deliveries(
        status: String? = nil, taskUUID: String? = nil, kind: String? = nil, limit: Int = 50, cursor: String? = nil
    ) async throws -> (deliveries: [DeliverySummary], nextCursor: String?) {
        let page = try await listPage(
            RPCMethod.deliveryList, "deliveries",
            filters: ["status": status.map(JSONValue.string), "taskUUID": taskUUID.map(JSONValue.string), "kind": kind.map(JSONValue.string)],
            limit: limit, cursor: cursor)
        return (try page.items.map { d throws(AtelierClientError) in try DeliverySummary(d) }, page.nextCursor)
    }

    /// `delivery.get`: one delivery with its attempts (and the webhook body).
    public func delivery(_ id: String) async throws -> DeliverySummary {
        try DeliverySummary(await call(RPCMethod.deliveryGet, params: ["id": .string(id)]))
    }

    /// `delivery.retry` for one delivery (`msg_…` or `upl_…`): the delivery, scheduled again now.
    public func retryDelivery(_ id: String) async throws -> DeliverySummary {
        try DeliverySummary(await call(RPCMethod.deliveryRetry, params: ["id": .string(id)]))
    }

    /// `delivery.retry` for every failed or pending delivery of a job: the deliveries scheduled again.
    public func retryDeliveries(taskUUID: String) async throws -> [DeliverySummary] {
        let r = try await call(RPCMethod.deliveryRetry, params: ["taskUUID": .string(taskUUID)])
        guard let rows = r["deliveries"]?.arrayValue else { throw AtelierClientError.badResponse("delivery.retry without deliveries") }
        return try rows.map { d throws(AtelierClientError) in try DeliverySummary(d) }
    }

    /// `webhook.secret`: the signing secret (`whsec_…`) and where it came from.
    public func webhookSecret() async throws -> (secret: String, source: String) {
        let r = try await call(RPCMethod.webhookSecret)
        guard let secret = r["secret"]?.stringValue else { throw AtelierClientError.badResponse("webhook.secret without secret") }
        return (secret, r["source"]?.stringValue ?? "")
    }
}
