import AtelierCore
import AtelierEngine
import AtelierRPC

extension RPCDispatcher {
    /// `delivery.*` and `webhook.secret` (see docs/delivery.md).
    static let deliveryHandlers: [String: Handler] = [
        RPCMethod.deliveryList: { d, params, _ throws(AtelierError) in
            var r = try FieldReader(params)
            let status = try r.enumValue("status", allowed: [DeliveryStatus.pending, .delivered, .failed], what: "delivery status")
            let task = try r.uuid("taskUUID")
            let kind = try r.enumValue("kind", allowed: [DeliveryKind.webhook, .upload], what: "delivery kind")
            let (limit, cursor) = try r.page()
            try r.finish()
            let (rows, next) = try await d.delivery().list(status: status, taskUUID: task, kind: kind, limit: limit, cursor: cursor)
            return ["deliveries": .array(rows.map(\.json)), "nextCursor": next.map { .string(String($0)) } ?? .null]
        },
        RPCMethod.deliveryGet: { d, params, _ throws(AtelierError) in
            var r = try FieldReader(params)
            let id = try RPCDispatcher.deliveryID(&r)
            try r.finish()
            return try await d.delivery().get(id).detailJSON
        },
        RPCMethod.deliveryRetry: { d, params, _ throws(AtelierError) in
            var r = try FieldReader(params)
            let id = r.has("id") ? try RPCDispatcher.deliveryID(&r) : nil
            let task = try r.uuid("taskUUID")
            try r.finish()
            guard (id == nil) != (task == nil) else {
                throw AtelierError(.missingField, "give exactly one of id or taskUUID", field: id == nil ? "/id" : "/taskUUID")
            }
            let rows = try await d.delivery().retry(id: id, taskUUID: task)
            if id != nil, let one = rows.first { return one.json }
            return ["retried": .int(Int64(rows.count)), "deliveries": .array(rows.map(\.json))]
        },
        RPCMethod.webhookSecret: { d, params, _ throws(AtelierError) in
            let r = try FieldReader(params)
            try r.finish()
            let s = try d.delivery()
            return ["secret": .string(s.secret.text), "source": .string(s.secretSource.rawValue)]
        },
    ]

    /// The delivery service, or an error when this daemon runs without one.
    func delivery() throws(AtelierError) -> DeliveryService {
        guard let s = services.delivery else { throw AtelierError(.internalError, "delivery is not running in this daemon") }
        return s
    }

    /// Reads a required delivery `id` (`msg_…` or `upl_…`).
    static func deliveryID(_ r: inout FieldReader) throws(AtelierError) -> String {
        let id = try r.requiredString("id")
        guard id.count <= 64, id.hasPrefix("msg_") || id.hasPrefix("upl_") else {
            throw AtelierError(.invalidValue, "id must be a delivery id (msg_… or upl_…)", field: r.pointer("id"))
        }
        return id
    }
}

extension DaemonServices {
    /// These services with webhook and upload delivery.
    public func adding(delivery: DeliveryService) -> DaemonServices {
        var s = self
        s.delivery = delivery
        return s
    }
}

extension RPCDispatcher {
    /// The job with its delivery state, as ``DeliveryService`` (the one owner of `Job.deliveries`) assembles it.
    func withDeliveries(_ job: Job) async -> Job {
        guard let service = services.delivery else { return job }
        return await service.withDeliveries(job)
    }
}
