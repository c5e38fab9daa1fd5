import AtelierClient
import AtelierCore
import Foundation
import Testing

@Suite("workflow webhooks", .serialized)
struct WorkflowWebhookTests {
    /// Workflow events go, signed, to the workflow's webhookURL: awaiting_selection (so a client can pick), then
    /// succeeded — committed with the workflow's state change like every other outbox message.
    @Test func awaitingSelectionAndSucceededAreSignedAndDelivered() async throws {
        let dir = TempDir("wf-hook")
        defer { dir.cleanup() }
        try await withDaemon(in: dir) { daemon, client in
            let secret = try #require(try await client.call("webhook.secret")["secret"]?.stringValue)
            let peer = try await ReceiverPeer.start(in: dir, secret: secret)
            defer { peer.stop() }
            let hook = peer.url("/wf?token=s3cr3t-query")
            let id = UUIDv4.generate()
            _ = try await client.call(
                "workflow.submit",
                params: [
                    "workflowUUID": .string(id), "positivePrompt": "a paper boat on a pond", "width": 256, "height": 256,
                    "ideation": ["count": 2, "model": "local-render"], "selection": ["mode": "client"],
                    "final": ["model": "local-render", "seed": 5],
                    "webhookURL": .string(hook),
                ])
            var w = try await client.call("workflow.wait", params: ["workflowUUID": .string(id), "timeoutSeconds": 60])
            #expect(w["state"] == "awaiting_selection")
            let awaiting = await peer.waitFor { rs in rs.contains { $0["type"] == "workflow.awaiting_selection" } }
            let msg = try #require(awaiting.first { $0["type"] == "workflow.awaiting_selection" })
            #expect(msg["verified"] == true, "standardwebhooks verification: \(msg["verifyError"] ?? "-")")
            let body = try #require(msg.webhookBody)
            #expect(body["data"]?["workflowUUID"]?.stringValue == id)
            #expect(body["data"]?["state"] == "awaiting_selection")
            #expect(body["data"]?["stages"]?["ideation"]?["variants"]?.arrayValue?.count == 2)
            #expect(msg["body"]?.stringValue?.contains("s3cr3t-query") == false, "no query strings echoed to receivers")

            let variants = try #require(w["stages"]?["ideation"]?["variants"]?.arrayValue)
            let pick = try #require(variants.first?["image"]?["imageUUID"])
            _ = try await client.call("workflow.select", params: ["workflowUUID": .string(id), "imageUUID": pick])
            w = try await client.call("workflow.wait", params: ["workflowUUID": .string(id), "timeoutSeconds": 60])
            #expect(w["state"] == "succeeded")
            let all = await peer.waitFor { rs in rs.contains { $0["type"] == "workflow.succeeded" } }
            let done = try #require(all.first { $0["type"] == "workflow.succeeded" })
            #expect(done["verified"] == true)
            #expect(done.webhookBody?["data"]?["state"] == "succeeded")
            // The same workflow's messages are listed under its id.
            let listed = try await client.call("delivery.list", params: ["taskUUID": .string(id)])
            let events = Set((listed["deliveries"]?.arrayValue ?? []).compactMap { $0["event"]?.stringValue })
            #expect(events.isSuperset(of: ["workflow.awaiting_selection", "workflow.succeeded"]))
        }
    }

    /// The delivery address policy applies to every job, whoever creates it: a workflow naming a metadata address
    /// is refused at workflow.submit, before anything is stored or spent.
    @Test func forbiddenWebhookAddressIsRefusedAtWorkflowSubmit() async throws {
        try await withDaemon("wf-ssrf") { daemon, client in
            let id = UUIDv4.generate()
            let e = await rpcError {
                _ = try await client.call(
                    "workflow.submit",
                    params: [
                        "workflowUUID": .string(id), "positivePrompt": "x", "width": 256, "height": 256,
                        "ideation": ["count": 1, "model": "local-render"], "final": ["model": "local-render"],
                        "webhookURL": "http://169.254.169.254/latest/meta-data",
                    ])
            }
            #expect(e?.stableCode == "invalid_url")
            #expect(e?.field == "/webhookURL")
            let gone = await rpcError { _ = try await client.call("workflow.get", params: ["workflowUUID": .string(id)]) }
            #expect(gone?.stableCode == "not_found", "nothing was stored")
            let jobs = try await client.list(limit: 10)
            #expect(jobs.jobs.isEmpty, "no job was created")
        }
    }
}
