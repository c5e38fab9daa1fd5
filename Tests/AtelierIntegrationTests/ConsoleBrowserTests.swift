import AtelierClient
import AtelierCore
import AtelierHTTP
import AtelierTestSupport
import AtelierTesting
import Foundation
import Testing

/// The web console in a real browser: a daemon with the built-in renderer (and a priced stand-in draft model), driven
/// through headless Chromium by Selenium (Tests/peers/console_browser.py, Debian's chromium + chromium-driver given
/// explicitly). The token is required; the jobs list shows a job's thumbnail and a job submitted meanwhile arrives
/// live; the job page; a workflow awaiting selection is completed by clicking a draft; the cost page renders its
/// charts. A screenshot of each page is kept in `.build/console-screenshots/` (printed).
@Suite("console: browser", .serialized)
struct ConsoleBrowserTests {
    /// Where the screenshots go (CI keeps `.build/console-screenshots/*.png` as artifacts).
    static let screenshots = PackagePaths.root + "/.build/console-screenshots"

    /// A draft model on the `local` kind with a catalog price, so the cost charts have spend to draw.
    static let pricedSketch = """
        {"id": "sketch", "upstreamId": "sketch-v1", "displayName": "sketch", "seedHonored": false, "seedAccepted": true,
         "textRendering": 4, "quality": 2, "latencySeconds": 0.2, "maxReferenceImages": 4, "maxReferenceImageMB": 20,
         "maxPromptLength": 4000, "numberResults": {"min": 1, "max": 4}, "outputFormats": ["PNG"],
         "sizes": {"range": {"minWidth": 64, "maxWidth": 2048, "minHeight": 64, "maxHeight": 2048, "multipleOf": 8, "maxMegapixels": 4.2}},
         "price": {"kind": "perImage", "usd": 0.02, "perInputImageUSD": 0, "asOf": "2026-12-01"}, "safetyPolicy": "sketch"}
        """

    @Test("headless Chromium: token required, live jobs with thumbnails, a job, a draft selected by a click, cost charts")
    func consoleInChromium() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver"), "chromium-driver is required (scripts/setup-deps)")
        let dir = TempDir("console")
        defer { dir.cleanup() }
        let providers = try WorkflowFixtures.providers(in: dir, extra: [Self.pricedSketch])
        try FileManager.default.copyItem(atPath: PackagePaths.root + "/providers/runware.json", toPath: providers + "/runware.json")
        // A budget, so the cost page draws spend against a cap.
        let routing = #"{"version": 1, "allowBuiltin": true, "rules": [], "budgets": [{"tag": "client", "dailyUSD": 0.01}]}"#
        try await FakeProviders.with { fakes in
            try await withDaemon(
                in: dir, routing: routing, extraArguments: ["--providers", providers, "--http", "127.0.0.1:0"],
                environment: fakes.environment(for: ["runware"])
            ) { daemon, client in
                try await Self.walk(daemon, client)
            }
        }
    }

    /// Makes the jobs and the workflow, runs the browser peer, and checks what it saw.
    static func walk(_ daemon: DaemonProcess, _ client: AtelierClient) async throws {
        let python = try #require(PythonPeer.python, "python3 is required for the browser peer")
        let base = try await HTTPFaceTests.baseURL(daemon)
        let job = try await client.submit(["positivePrompt": "a lighthouse at dusk", "model": "local-render", "width": 384, "height": 256])
        #expect(try await client.wait(job.taskUUID, timeoutSeconds: 60).status == .succeeded)
        // Priced by the provider (the Runware fake answers a cost), tagged for the budget.
        for prompt in ["a red kite", "a blue kite"] {
            let paid = try await client.submit([
                "positivePrompt": .string(prompt), "model": "runware-flux-1-schnell", "width": 512, "height": 512, "tags": ["client": "acme"],
            ])
            #expect(try await client.wait(paid.taskUUID, timeoutSeconds: 60).status == .succeeded)
        }

        let workflowUUID = UUIDv4.generate()
        _ = try await client.call(
            "workflow.submit",
            params: [
                "workflowUUID": .string(workflowUUID), "positivePrompt": "a paper boat on a pond", "width": 256, "height": 256,
                "ideation": ["count": 3, "model": "sketch"], "selection": ["mode": "client"],
            ])
        let waiting = try await client.call("workflow.wait", params: ["workflowUUID": .string(workflowUUID), "timeoutSeconds": 60])
        try #require(waiting["state"] == "awaiting_selection")

        try? FileManager.default.removeItem(atPath: Self.screenshots)
        let r = try await runCommand(
            python,
            [
                PackagePaths.root + "/Tests/peers/console_browser.py", base, BearerToken.path(socketPath: daemon.socketPath), daemon.socketPath,
                job.taskUUID, workflowUUID, Self.screenshots,
            ])
        print("console screenshots: \(Self.screenshots)")
        try #require(r.status == 0, "console_browser.py failed:\n\(r.stderr)")
        let seen = try JSONParser.parse(Array(r.stdout.utf8))

        // Without the token: the form, no list, and the API refuses the page.
        #expect(seen["gateWithoutToken"] == true)
        #expect(seen["jobsTableWithoutToken"] == false)
        #expect(seen["apiStatusWithoutToken"] == 401)
        #expect(seen["imageStatusWithoutToken"] == 401)
        // With it: the thumbnail, the token out of the address bar, kept for the tab only, no cookie.
        #expect(seen["thumbnailLoaded"] == true)
        let url = seen["urlAfterToken"]?.stringValue ?? ""
        #expect(!url.contains("token") && url.hasSuffix("#/jobs"), "\(url)")
        #expect(seen["tokenInSessionStorage"] == true)
        #expect(seen["cookies"] == 0)
        // The job submitted while the page was open arrived through the event stream.
        let liveID = try #require(seen["liveTaskUUID"]?.stringValue)
        #expect(try await client.job(liveID).status == .succeeded)
        #expect(seen["jobPageSections"]?.arrayValue?.count == 6, "\(String(describing: seen["jobPageSections"]))")

        // The click selected that draft, and the workflow finished from it.
        #expect(seen["draftsShown"] == 3)
        let clicked = try #require(seen["clickedImageUUID"]?.stringValue)
        let done = try await client.call("workflow.get", params: ["workflowUUID": .string(workflowUUID)])
        #expect(done["state"] == "succeeded")
        #expect(done["stages"]?["selection"]?["imageUUID"]?.stringValue == clicked)
        #expect(seen["savingShown"]?.stringValue?.hasPrefix("$") == true)

        // Costs: the five charts (spend per model, provider, arm; success rate; p95) plus budgets' text, with bars.
        #expect((seen["charts"]?.intValue ?? 0) >= 5)
        #expect((seen["bars"]?.intValue ?? 0) > 0)
        #expect(seen["browserErrors"]?.arrayValue?.isEmpty == true, "\(String(describing: seen["browserErrors"]))")

        let shots = seen["screenshots"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(shots.count == 6)
        for path in shots {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
            #expect(size > 1000, "screenshot \(path)")
        }
        // The token reached no log line.
        let token = try String(contentsOfFile: BearerToken.path(socketPath: daemon.socketPath), encoding: .utf8)
        #expect(!daemon.log.contains(token.trimmingCharacters(in: .whitespacesAndNewlines)))
    }
}
