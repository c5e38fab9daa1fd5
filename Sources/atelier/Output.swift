import ArgumentParser
import AtelierClient
import AtelierCore
import AtelierRPC
import Foundation

// MARK: - Output helpers

enum Output {
    static func printJSON(_ v: JSONValue) { print(JSONWriter.pretty(v)) }

    static func usd(_ d: Double?) -> String {
        guard let d else { return "-" }
        return String(format: "$%.4f", d)
    }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    static func describe(_ job: Job) -> String {
        var lines = ["job \(job.taskUUID): \(job.status.rawValue)"]
        if let r = job.route {
            let ceiling = r.priceKnown ? "" : " (ceiling: price unknown)"
            lines.append(
                "  model    \(r.model) (\(r.provider))\(r.arm.map { ", arm \($0)" } ?? "")  estimate \(usd(r.estimatedCostUSD))\(ceiling)")
        }
        // Where the figure comes from; an unknown cost is said so, never printed as $0.
        switch (job.costUSD, job.costSource) {
        case (let c?, let s?): lines.append("  cost     \(usd(c)) (\(s.rawValue))")
        case (let c?, nil): lines.append("  cost     \(usd(c))")
        case (nil, .unknown?): lines.append("  cost     unknown (no published price; budgets count the ceiling)")
        default: break
        }
        for r in job.results {
            let seed = r.seedHonored ? "seed \(r.seed.map(String.init) ?? "-")" : "seed not honoured"
            lines.append("  image    \(r.path)  \(r.width)x\(r.height)  \(r.bytes) bytes  \(seed)  sha256 \(r.sha256.prefix(16))…")
            for m in r.verification?.mismatches ?? [] { lines.append(mismatch(m.field, m.requested, m.delivered)) }
        }
        if let e = job.error, job.status != .succeeded {
            lines.append("  error    \(e.code): \(e.message)")
            for m in e.details["mismatches"]?.arrayValue ?? [] {
                lines.append(mismatch(m["field"]?.stringValue ?? "?", m["requested"] ?? .null, m["delivered"] ?? .null))
            }
        }
        if job.attempts.count > 1 {
            for a in job.attempts {
                lines.append("  attempt  #\(a.number) \(a.model) \(a.outcome.rawValue)\(a.error.map { " (\($0.code))" } ?? "")")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// One line of a result that differs from its request.
    static func mismatch(_ field: String, _ requested: JSONValue, _ delivered: JSONValue) -> String {
        func text(_ v: JSONValue) -> String { v.stringValue ?? v.description }
        return "  mismatch \(field): requested \(text(requested)), delivered \(text(delivered))"
    }

    /// Prints an error the way a person wants to read it, and exits non-zero.
    static func fail(_ error: any Error) -> ExitCode {
        switch error {
        case let e as AtelierClientError where e.code == .daemonNotRunning:
            let p = e.socketPath ?? "?"
            FileHandle.standardError.write(Data("error: atelierd is not running on \(p)\n  start it with: atelierd --socket \(p)\n".utf8))
            return ExitCode(3)
        case let e as AtelierClientError:
            FileHandle.standardError.write(Data("error: \(e.message)\n".utf8))
            return ExitCode(1)
        case let e as RPCError:
            var msg = "error: \(e.message)"
            if let c = e.stableCode { msg += " [\(c)]" }
            if let f = e.field, !f.isEmpty { msg += " at \(f)" }
            if let nearest = e.data?["nearest"]?.arrayValue {
                msg += "\n  nearest valid: " + nearest.compactMap(\.stringValue).joined(separator: ", ")
            }
            if let allowed = e.data?["allowed"]?.arrayValue {
                msg += "\n  allowed: " + allowed.map { $0.stringValue ?? $0.description }.joined(separator: ", ")
            }
            if case .object(let rej)? = e.data?["rejections"] {
                for (m, why) in rej { msg += "\n  \(m): \(why.stringValue ?? why.description)" }
            }
            FileHandle.standardError.write(Data((msg + "\n").utf8))
            return ExitCode(1)
        case let e as ValidationError:
            FileHandle.standardError.write(Data("error: \(e.message)\n".utf8))
            return ExitCode(2)
        default:
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            return ExitCode(1)
        }
    }
}

/// Waits for a job with a progress line on a terminal (plain status lines otherwise).
func waitWithProgress(_ client: AtelierClient, _ taskUUID: String, timeout: Double, quiet: Bool) async throws -> Job {
    let tty = isatty(STDERR_FILENO) == 1 && !quiet
    let frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
    let start = Date()
    var lastStatus = ""
    var i = 0
    while true {
        let elapsed = Date().timeIntervalSince(start)
        let left = timeout - elapsed
        let job = try await client.wait(taskUUID, timeoutSeconds: max(0, min(tty ? 0.2 : 2, left)))
        if job.status.rawValue != lastStatus && !quiet && !tty {
            FileHandle.standardError.write(Data("\(job.status.rawValue)\n".utf8))
        }
        lastStatus = job.status.rawValue
        if tty {
            let model = job.route?.model ?? "-"
            let line =
                job.status.isTerminal ? "" : "\(frames[i % frames.count]) \(job.status.rawValue) on \(model)  \(String(format: "%.1f", elapsed))s"
            FileHandle.standardError.write(Data("\r\u{1B}[2K\(line)".utf8))
            i += 1
        }
        if job.status.isTerminal || left <= 0 {
            if tty { FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8)) }
            return job
        }
    }
}
