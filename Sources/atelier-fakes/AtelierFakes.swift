// atelier-fakes: starts loopback fakes of the Gemini, Runware, BFL and AUTOMATIC1111 APIs on 127.0.0.1 (ephemeral
// ports) and prints their base URLs as one line of JSON on stdout. A SIMULATION: no request leaves the machine.
//
//   atelier-fakes [--max-seconds N] [--runware-polls N] [--bfl-polls N] [--exit-on-eof]
//
// Keys the fakes accept come from GEMINI_API_KEY, RUNWARE_API_KEY, BFL_API_KEY and SDWEBUI_AUTH when set, else
// the fixed simulation keys (FakeKeys.simulation). They are never printed. The process exits on SIGTERM/SIGINT,
// when stdin reaches end of file (with --exit-on-eof), or after --max-seconds (default 3600).
import AtelierTesting
import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

@main
enum AtelierFakes {
    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("atelier-fakes: \(message)\n".utf8))
        exit(2)
    }

    static func main() async {
        var maxSeconds = 3600.0
        var runwarePolls = 2
        var bflPolls = 2
        var exitOnEOF = false
        var args = CommandLine.arguments.dropFirst()
        while let a = args.popFirst() {
            switch a {
            case "--max-seconds":
                guard let v = args.popFirst().flatMap(Double.init) else { fail("--max-seconds needs a number") }
                maxSeconds = v
            case "--runware-polls":
                guard let v = args.popFirst().flatMap(Int.init) else { fail("--runware-polls needs a number") }
                runwarePolls = v
            case "--bfl-polls":
                guard let v = args.popFirst().flatMap(Int.init) else { fail("--bfl-polls needs a number") }
                bflPolls = v
            case "--exit-on-eof": exitOnEOF = true
            case "-h", "--help":
                print("usage: atelier-fakes [--max-seconds N] [--runware-polls N] [--bfl-polls N] [--exit-on-eof]")
                print("Starts loopback fakes of the provider APIs (a simulation) and prints their base URLs as JSON.")
                exit(0)
            default: fail("unknown argument \(a)")
            }
        }

        let env = ProcessInfo.processInfo.environment
        func key(_ name: String, _ fallback: String?) -> String? {
            if let v = env[name], !v.isEmpty { return v }
            return fallback
        }
        var keys = FakeKeys([:])
        for r in FakeRegistration.all { keys[r.kind] = key(r.keyVariable, r.simulationKey) }

        let fakes: FakeProviders
        do {
            fakes = try await FakeProviders.start(keys: keys, runwarePolls: runwarePolls, bflPolls: bflPolls)
        } catch {
            fail("cannot start the fakes: \(error)")
        }
        var out: [String] = []
        for (name, url) in fakes.baseURLs.sorted(by: { $0.key < $1.key }) { out.append("\"\(name)\":\"\(url)\"") }
        out.append("\"simulation\":true")
        FileHandle.standardOutput.write(Data(("{" + out.joined(separator: ",") + "}\n").utf8))

        await waitForStop(maxSeconds: maxSeconds, exitOnEOF: exitOnEOF)
        let total = fakes.allRequests.count
        await fakes.shutdown()
        FileHandle.standardError.write(Data("atelier-fakes: stopped after \(total) requests\n".utf8))
        exit(0)
    }

    /// Returns on SIGTERM/SIGINT, at EOF on stdin (optional), or after `maxSeconds`.
    static func waitForStop(maxSeconds: Double, exitOnEOF: Bool) async {
        let stop = DispatchSemaphore(value: 0)
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let sources = [SIGTERM, SIGINT].map { sig -> any DispatchSourceSignal in
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { @Sendable in stop.signal() }
            s.resume()
            return s
        }
        if exitOnEOF {
            Thread.detachNewThread { @Sendable in
                while !FileHandle.standardInput.availableData.isEmpty {}
                stop.signal()
            }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + maxSeconds) { @Sendable in stop.signal() }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread { @Sendable in
                stop.wait()
                c.resume()
            }
        }
        for s in sources { s.cancel() }
    }
}
