import AtelierRPC

/// The JSON-RPC methods the console may call through `POST /api/rpc/{method}`: the reads its pages need and the
/// three changes it offers (cancel a job, select a draft, cancel a workflow). Everything else — submitting, config
/// reload, the webhook secret, model verification (outbound calls), subscriptions (the console has its event
/// stream) — is refused with 404, so the HTTP face is never a wider door than the console needs.
public enum ConsoleMethods {
    /// Methods that only read.
    public static let reads: Set<String> = [
        RPCMethod.jobGet, RPCMethod.jobList, RPCMethod.jobRecipe, RPCMethod.routeExplain, RPCMethod.modelsList, RPCMethod.statsGet,
        RPCMethod.daemonHealth, RPCMethod.workflowGet, RPCMethod.workflowList, RPCMethod.deliveryList, RPCMethod.deliveryGet,
    ]

    /// Methods that change something. Like every API call they need the token header, and they must be POSTed with
    /// `Content-Type: application/json`, which no HTML form or other-origin "simple" request can send.
    public static let changes: Set<String> = [RPCMethod.jobCancel, RPCMethod.workflowSelect, RPCMethod.workflowCancel]

    /// Whether the console may call `method`.
    public static func allows(_ method: String) -> Bool { reads.contains(method) || changes.contains(method) }
}
