import ArgumentParser
import AtelierClient
import AtelierCore
import AtelierRPC
import Foundation

extension Atelier {
    /// Delivery subcommands: `atelier delivery list|get|retry`, `atelier webhook-secret`.
    static let deliveryCommands: [any ParsableCommand.Type] = [DeliveryGroup.self, WebhookSecretCommand.self]
}

struct DeliveryGroup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delivery", abstract: "Inspect and retry webhook messages and uploads.",
        subcommands: [DeliveryList.self, DeliveryGet.self, DeliveryRetry.self])
}

struct DeliveryList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List deliveries, newest first.")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Only pending, delivered or failed ones.") var status: String?
    @Option(name: .customLong("task"), help: "Only this job's (taskUUID).") var taskUUID: String?
    @Option(help: "Only webhook or upload.") var kind: String?
    @OptionGroup var page: PageOptions

    func run() async throws {
        do {
            let found = try await global.withClient {
                try await $0.deliveries(status: status, taskUUID: taskUUID, kind: kind, limit: page.limit, cursor: page.cursor)
            }
            DeliveryText.table.print(found.deliveries, nextCursor: found.nextCursor, json: global.json)
        } catch { throw Output.fail(error) }
    }
}

struct DeliveryGet: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "get", abstract: "Show one delivery (with the webhook body).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The delivery id (msg_… or upl_…).") var id: String

    func run() async throws {
        do {
            Output.printJSON(try await global.withClient { try await $0.delivery(id) }.json)
        } catch { throw Output.fail(error) }
    }
}

struct DeliveryRetry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry", abstract: "Try a failed (or waiting) delivery again now, with a fresh retry schedule and the same webhook-id.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The delivery id (msg_… or upl_…).") var id: String?
    @Option(name: .customLong("task"), help: "Instead: every failed or pending delivery of this job (taskUUID).") var taskUUID: String?

    func validate() throws {
        guard (id == nil) != (taskUUID == nil) else { throw ValidationError("give a delivery id or --task, not both") }
    }

    func run() async throws {
        do {
            let list: [DeliverySummary] = try await global.withClient { client in
                if let id { return [try await client.retryDelivery(id)] }
                return try await client.retryDeliveries(taskUUID: taskUUID ?? "")
            }
            if global.json {
                Output.printJSON(id != nil ? list[0].json : ["retried": .int(Int64(list.count)), "deliveries": .array(list.map(\.json))])
                return
            }
            print(Output.table(DeliveryText.header, list.map(DeliveryText.row)))
        } catch { throw Output.fail(error) }
    }
}

struct WebhookSecretCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "webhook-secret",
        abstract: "Print the webhook signing secret (whsec_…) receivers verify signatures with (Standard Webhooks).")
    @OptionGroup var global: GlobalOptions
    @Option(help: "Read it from this data directory instead of asking the running daemon.") var dataDir: String?

    func run() async throws {
        if let dataDir {
            guard let data = FileManager.default.contents(atPath: dataDir + "/webhook-secret") else {
                FileHandle.standardError.write(Data("error: no webhook-secret in \(dataDir) (it is created at the daemon's first start)\n".utf8))
                throw ExitCode(1)
            }
            print(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
            return
        }
        do {
            let s = try await global.withClient { try await $0.webhookSecret() }
            if global.json { Output.printJSON(["secret": .string(s.secret), "source": .string(s.source)]) } else { print(s.secret) }
        } catch { throw Output.fail(error) }
    }
}

enum DeliveryText {
    static let header = ["ID", "KIND", "EVENT", "STATUS", "ATTEMPTS", "NEXT / DONE", "URL", "LAST ERROR"]

    /// The `delivery list` table.
    static let table = ListTable<DeliverySummary>(
        key: "deliveries", command: "atelier delivery list", header: header, row: row, json: \.json)

    static func row(_ d: DeliverySummary) -> [String] {
        let when: String
        if d.status == "delivered" {
            when = d.deliveredAt ?? "-"
        } else if d.waitsForUploads {
            when = "after uploads"
        } else {
            when = d.nextAttemptAt ?? "-"
        }
        var err = "-"
        if let e = d.lastError {
            err = e.code + ": " + (e.message.count > 60 ? String(e.message.prefix(60)) + "…" : e.message)
        }
        return [d.id, d.kind, d.event, d.status, String(d.attempts), when, d.url, err]
    }
}
