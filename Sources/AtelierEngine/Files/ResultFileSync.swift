import AtelierProviders

#if canImport(Glibc)
    import Glibc
#endif

/// Makes stored result files durable in groups: every caller of ``sync()`` returns after one `syncfs(2)` of the data
/// directory's file system that *started after* the call, and all callers that arrive while one runs share the next.
/// So the files (their data and the `rename` into `images/`) are on disk before the state change that names them
/// commits — at most one sync per group of finishing jobs, not one `fsync` per file and directory.
actor ResultFileSync {
    private let directory: String
    private var waiting: [CheckedContinuation<Void, Never>] = []
    private var running = false
    private var directoryFD: Int32 = -1

    /// Syncs the file system holding `directory`.
    init(directory: String) { self.directory = directory }

    /// Returns once everything written before this call is on disk (best effort: an error of the sync itself is
    /// not reported here; a failing disk shows up in the writes and commits that follow).
    func sync() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            waiting.append(c)
            if !running {
                running = true
                Task { await self.drain() }
            }
        }
    }

    /// glibc's `syncfs(2)` (declared only under `_GNU_SOURCE`, so looked up by name); nil elsewhere.
    static let syncfs: (@convention(c) (Int32) -> Int32)? = {
        guard let symbol = dlsym(nil, "syncfs") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Int32).self)
    }()

    private func drain() async {
        while !waiting.isEmpty {
            let batch = waiting
            waiting = []
            let dir = directory
            let known = directoryFD
            // The open and the sync block: they run on NIO's thread pool (FileWork), never on the cooperative pool.
            let opened = try? await FileWork.run { () throws(ProviderError) -> Int32 in
                let fd = known >= 0 ? known : open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                guard fd >= 0 else { return -1 }
                if let syncfs = ResultFileSync.syncfs {
                    _ = syncfs(fd)
                } else {
                    Glibc.sync()
                }
                return fd
            }
            // The descriptor stays open for the daemon's lifetime (one open instead of one per group).
            if directoryFD < 0, let opened, opened >= 0 { directoryFD = opened }
            for c in batch { c.resume() }
        }
        running = false
    }
}
