import Foundation

/// One bad line of a workload file.
public struct WorkloadIssue: Sendable, Equatable, CustomStringConvertible {
    /// 1-based line number.
    public var line: Int
    /// The error from parsing the line as a `job.submit` task (its `field` is a pointer within the line).
    public var error: AtelierError

    public init(line: Int, error: AtelierError) {
        self.line = line
        self.error = error
    }

    public var description: String {
        "line \(line): " + (error.field.map { "\($0): " } ?? "") + "\(error.code): \(error.message)"
    }
}

/// Every bad line of a workload (the first ``Workload/maximumIssues`` of them, and how many there were).
public struct WorkloadError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var issues: [WorkloadIssue]
    /// All bad lines, including those not listed.
    public var totalIssues: Int

    public var description: String {
        var lines = issues.map { "\(file):\($0)" }
        if totalIssues > issues.count { lines.append("\(file): … and \(totalIssues - issues.count) more bad lines") }
        return lines.joined(separator: "\n")
    }
}

/// Reads workloads for `atelier simulate`: JSON Lines, one task per line in the same JSON as `job.submit` params.
///
/// Blank lines are skipped. A task without a `taskUUID` gets one derived from its file name, line number and text, so
/// that repeated simulations (and splits keyed on taskUUID) give the same answer every time.
public enum Workload {
    /// The most issues listed in a ``WorkloadError``.
    public static let maximumIssues = 100

    /// Reads a workload file.
    public static func load(path: String) throws(WorkloadError) -> [ImageTask] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw WorkloadError(
                file: path, issues: [WorkloadIssue(line: 0, error: AtelierError(.notFound, "cannot read the workload file"))], totalIssues: 1)
        }
        return try parse(data, file: path)
    }

    /// Parses workload text.
    public static func parse(_ text: String, file: String = "<workload>") throws(WorkloadError) -> [ImageTask] {
        try parse(Data(text.utf8), file: file)
    }

    /// Parses workload bytes.
    public static func parse(_ data: Data, file: String = "<workload>") throws(WorkloadError) -> [ImageTask] {
        var tasks: [ImageTask] = []
        var issues: [WorkloadIssue] = []
        var total = 0
        let bytes = [UInt8](data)
        let stem = (file as NSString).lastPathComponent
        var lineNo = 0
        var start = 0
        func handle(_ s: Int, _ e: Int) {
            lineNo += 1
            var end = e
            if end > s && bytes[end - 1] == 0x0D { end -= 1 }
            var blank = true
            for k in s..<end where bytes[k] != 0x20 && bytes[k] != 0x09 {
                blank = false
                break
            }
            if blank { return }
            let slice = bytes[s..<end]
            do {
                let value = try JSONParser.parse(slice)
                var task = try ImageTask(json: value)
                if value["taskUUID"] == nil {
                    task.taskUUID = UUIDv4.derived(from: "workload \(stem):\(lineNo):" + String(decoding: slice, as: UTF8.self))
                }
                tasks.append(task)
            } catch let e as JSONParseError {
                total += 1
                if issues.count < maximumIssues {
                    issues.append(WorkloadIssue(line: lineNo, error: AtelierError(.invalidValue, e.description)))
                }
            } catch let e as AtelierError {
                total += 1
                if issues.count < maximumIssues { issues.append(WorkloadIssue(line: lineNo, error: e)) }
            } catch {
                total += 1
                if issues.count < maximumIssues {
                    issues.append(WorkloadIssue(line: lineNo, error: AtelierError(.invalidValue, "\(error)")))
                }
            }
        }
        for (i, b) in bytes.enumerated() where b == 0x0A {
            handle(start, i)
            start = i + 1
        }
        if start < bytes.count { handle(start, bytes.count) }
        if total > 0 { throw WorkloadError(file: file, issues: issues, totalIssues: total) }
        return tasks
    }
}
