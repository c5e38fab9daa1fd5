import AtelierClient
import AtelierCore
import AtelierProviders
import AtelierRPC
import AtelierTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A small tmpfs mounted for one test (needs root); unmounted by ``unmount()``.
struct SmallFilesystem {
    let path: String

    /// Mounts a tmpfs of `megabytes` at `path`; nil (with the reason) when that is not possible here.
    static func mount(at path: String, megabytes: Int) async -> (SmallFilesystem?, String?) {
        guard getuid() == 0 else { return (nil, "not running as root, cannot mount a tmpfs") }
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard let r = try? await runCommand("/bin/mount", ["-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path]), r.status == 0 else {
            return (nil, "mount -t tmpfs failed (no CAP_SYS_ADMIN in this container?)")
        }
        return (SmallFilesystem(path: path), nil)
    }

    /// ``mount(at:megabytes:)``, or nil after saying why `what` is skipped here.
    static func mountOrSkip(at path: String, megabytes: Int, skipping what: String) async -> SmallFilesystem? {
        let (mounted, reason) = await mount(at: path, megabytes: megabytes)
        if mounted == nil { print("skipping \(what): \(reason ?? "?")") }
        return mounted
    }

    func unmount() async { _ = try? await runCommand("/bin/umount", ["-l", path]) }

    /// Fills the filesystem with `<path>/filler` until writes fail with ENOSPC (off the cooperative pool).
    func fill() async -> Bool {
        let p = path + "/filler"
        return await CooperativePoolTests.onThread {
            let fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { return false }
            defer { close(fd) }
            var full = false
            for size in [1 << 20, 64 << 10, 4096, 512, 1] {
                let chunk = [UInt8](repeating: 0x5A, count: size)
                while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, size) }) == size {}
                full = errno == ENOSPC
            }
            return full
        }
    }

    /// Frees the space taken by ``fill()``.
    func free() { unlink(path + "/filler") }
}

/// With the data directory on a full disk, acknowledged jobs wait in place and finish by themselves once space is
/// freed (no restart, none failed); new submissions are refused with a retryable `store_failure` meanwhile.
@Suite("full disk", .serialized)
struct FullDiskTests {
    @Test func acknowledgedJobsSurviveAFullDiskWithoutARestart() async throws {
        let dir = TempDir("disk")
        defer { dir.cleanup() }
        guard
            let fs = await SmallFilesystem.mountOrSkip(
                at: dir.path + "/data", megabytes: 24, skipping: "the tmpfs full-disk test (the injected-fault engine test covers the logic)")
        else { return }
        var daemon: DaemonProcess?
        do {
            let d = try await DaemonProcess.start(in: dir, dataDir: fs.path)
            daemon = d
            try await run(d, fs)
        } catch {
            Issue.record("\(error)")
        }
        if let daemon { await daemon.terminate() }
        await fs.unmount()
    }

    /// A provider's write of an image on a full disk fails as the daemon's storage (`store_failure`, which the
    /// engine waits out with the image in memory), not as the provider (`unavailable`, which failed the paid call),
    /// and leaves no file; once space is back the same write succeeds.
    @Test func anImageWriteOnAFullDiskIsAStoreFailureAndLeavesNothing() async throws {
        let dir = TempDir("diskwrite")
        defer { dir.cleanup() }
        guard let fs = await SmallFilesystem.mountOrSkip(at: dir.path + "/fs", megabytes: 2, skipping: "the tmpfs image-write test") else { return }
        let text = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }).base64EncodedString()
        let path = fs.path + "/image.png"
        #expect(await fs.fill(), "could not fill the tmpfs")
        do {
            _ = try await ImageFiles.writeBase64(text: text, to: path)
            Issue.record("an image was written on a full disk")
        } catch {
            #expect(error.code == .storeFailure, "\(error)")
            #expect(error.message.contains("errno 28"), "\(error.message)")
        }
        #expect(!FileManager.default.fileExists(atPath: path), "a failed write left a file behind")
        fs.free()
        let digest = try await ImageFiles.writeBase64(text: text, to: path)
        #expect(digest.bytes == 300_000)
        #expect(FileManager.default.contents(atPath: path)?.count == 300_000)
        await fs.unmount()
    }

    private func run(_ daemon: DaemonProcess, _ fs: SmallFilesystem) async throws {
        let client = try await daemon.client()
        defer { Task { try? await client.close() } }
        // Before: a few jobs finish normally.
        var acknowledged: [String] = []
        for i in 0..<3 { acknowledged.append(try await client.submit(localTask("before \(i)", seed: Int64(i))).taskUUID) }
        for id in acknowledged { #expect(try await client.wait(id, timeoutSeconds: 180).status == .succeeded) }

        // Thirty-six large renders are acknowledged (two run at a time; ~0.45 MB each, so all fit once space is
        // back), then the disk fills up under them: enough that some are unfinished even when this test process is
        // slow to fill it (a busy machine).
        for i in 0..<36 {
            acknowledged.append(try await client.submit(localTask("large \(i)", seed: Int64(10 + i), width: 1024, height: 1024)).taskUUID)
        }
        #expect(await fs.fill(), "could not fill the tmpfs")
        let unfinished = try await client.list(limit: 200).jobs.filter { !$0.status.isTerminal }.count
        #expect(unfinished > 0, "every job finished before the disk filled up: the test proves nothing")
        var refused: [RPCError] = []
        for i in 0..<10 {
            do {
                acknowledged.append(try await client.submit(localTask("during \(i)", seed: Int64(100 + i))).taskUUID)
            } catch let e as RPCError {
                refused.append(e)
            }
        }
        // Every refusal says the store cannot commit, retryably, and why.
        for e in refused {
            #expect(e.code == -32010 && e.stableCode == "store_failure", "\(e)")
            #expect(e.data?["retryable"] == .bool(true), "\(e)")
            #expect(e.message.contains("disk full at \(fs.path)") || e.message.contains(fs.path), "\(e.message)")
        }
        // Health tells the truth while it lasts.
        var sawDegraded = false
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let h = try await client.health().json
            if h["status"] == "degraded", h["store"]?["ok"] == .bool(false) {
                sawDegraded = true
                #expect(h["store"]?["error"]?.stringValue?.contains(fs.path) == true, "\(h)")
                #expect(h["store"]?["since"]?.stringValue != nil)
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(sawDegraded, "daemon.health never reported the full disk")
        // `atelier health` says so and exits 2.
        let cli = try await runCommand(PackagePaths.atelier, ["health", "--socket", daemon.socketPath])
        #expect(cli.status == 2, "\(cli.status): \(cli.stdout) \(cli.stderr)")
        #expect(cli.stdout.contains("degraded") && cli.stdout.contains("disk full at \(fs.path)"), "\(cli.stdout)")
        print("full disk: \(unfinished) acknowledged jobs unfinished when the disk filled; \(refused.count) of 10 submits refused during the fault")

        // Space is freed: every acknowledged job finishes by itself.
        fs.free()
        for id in acknowledged {
            let j = try await client.wait(id, timeoutSeconds: 180)
            #expect(j.status == .succeeded, "\(id): \(j.status) \(j.error?.description ?? "")")
        }
        let (jobs, _) = try await client.list(limit: 200)
        #expect(jobs.filter { $0.status == .failed }.isEmpty)
        let h = try await client.health().json
        #expect(h["status"] == "ok", "\(h)")
        #expect(h["store"]?["ok"] == .bool(true))
        #expect(h["queued"] == .int(0) && h["running"] == .int(0))
        #expect(try await runCommand(PackagePaths.atelier, ["health", "--socket", daemon.socketPath]).status == 0)
        // And new work is taken again.
        let after = try await client.submit(localTask("after", seed: 999))
        #expect(try await client.wait(after.taskUUID, timeoutSeconds: 180).status == .succeeded)
    }
}
