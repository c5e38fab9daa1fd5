#if canImport(Glibc)
    import Glibc
#endif

/// How the daemon's allocator treats the multi-megabyte buffers of image results (provider response bodies decoded
/// in place).
///
/// By default glibc raises its mmap threshold after a large block is freed, so later blocks of that size come from
/// the per-thread arenas and stay resident after they are freed. With 16 concurrent 8 MiB Gemini results that kept
/// the daemon at 210 MB RSS. A fixed 256 KiB threshold (two arenas) fixed that — 100 MB — but then every body of
/// every job was a fresh mapping: a 2 MB body cost 512 page faults, their zeroing and an `munmap`, about a fifth of
/// the daemon's CPU per 2 MB job (perf, scripts/bench-vs-litellm).
///
/// So the threshold is fixed at 4 MiB: bodies up to that size (2K images, everything smaller) come from the two
/// arenas, whose freed memory is reused by the next job without faults (and is kept, up to 32 MiB at the top of an
/// arena, instead of being trimmed after every job); larger ones (4K images, 8 MiB of base64) are mapped for their
/// job and returned when it ends, which keeps 16 concurrent 8 MiB results under the memory target.
public enum LargeBufferMemory {
    /// Blocks at least this large are mapped for themselves and unmapped when freed.
    public static let mmapThreshold: Int32 = 4 << 20
    /// Free memory at the top of an arena beyond this is returned to the system.
    public static let trimThreshold: Int32 = 32 << 20

    /// Applies the policy (once, at start; a no-op where glibc's `mallopt` is not found).
    public static func apply() {
        #if canImport(Glibc)
            guard let symbol = dlsym(nil, "mallopt") else { return }
            let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
            let mTrimThreshold: Int32 = -1  // M_TRIM_THRESHOLD
            let mMmapThreshold: Int32 = -3  // M_MMAP_THRESHOLD
            let mArenaMax: Int32 = -8  // M_ARENA_MAX
            _ = mallopt(mMmapThreshold, mmapThreshold)
            _ = mallopt(mTrimThreshold, trimThreshold)
            _ = mallopt(mArenaMax, 2)
        #endif
    }
}
