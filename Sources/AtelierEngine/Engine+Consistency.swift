import AtelierCore
import AtelierImaging
import AtelierProviders
import Foundation
import Synchronization

/// Best-of-N (`consistency`) and protected regions (`preserve`), run as one attempt of the job (docs/consistency.md):
/// the references loaded and decoded once, candidates generated on the routed model in rounds — in parallel up to
/// the provider's free concurrency —, each scored against the reference off the cooperative pool
/// (``ConsistencyScoring``), ``BestOfN/decide(candidates:samples:minScore:maxSamples:onMiss:)`` choosing the next
/// step, the kept image composited when asked, and `result.consistency` / `result.preserve` recorded. Every
/// candidate's image stays stored under its imageUUID.
extension Engine {
    /// How many images a `preserve.minScore` under `measure` may try in all when the task has no `consistency`.
    static let preserveMaxSamples = 3

    /// The sampling plan of a task (see docs/consistency.md, "Both together").
    struct SamplingPlan {
        var samples: Int
        var minScore: Double?
        var maxSamples: Int?
        var onMiss: ConsistencyRequest.OnMiss
        /// A `preserve.minScore` every kept candidate must reach (under `measure`).
        var regionMinScore: Double?

        init(_ task: ImageTask) {
            let c = task.consistency
            regionMinScore = task.preserve.flatMap { $0.mode == .measure ? $0.minScore : nil }
            samples = c?.samples ?? 1
            onMiss = c?.onMiss ?? .fail
            if let c {
                // With a region bar, a candidate missing it ranks below every SSIM (see decisionScore), so a
                // threshold under -1 keeps the best candidate that passes the region bar.
                minScore = c.minScore ?? (regionMinScore == nil ? nil : -1.5)
                maxSamples = c.maxSamples
            } else {
                minScore = regionMinScore
                maxSamples = regionMinScore == nil ? nil : Engine.preserveMaxSamples
            }
        }
    }

    /// A generated, stored and scored candidate.
    struct ScoredCandidate: Sendable {
        var result: JobResult
        var scores: ConsistencyScoring.Scores
        /// What it cost: the provider's or computed figure, else the catalog's for one image.
        var cost: CostFigure

        /// The score ``BestOfN`` ranks by: the consistency score (or the region's, without consistency); a
        /// candidate whose region misses `regionMinScore` ranks below every SSIM.
        func decisionScore(_ plan: SamplingPlan) -> Double {
            let rank = scores.consistency ?? scores.region?.score ?? 0
            if let bar = plan.regionMinScore, scores.consistency != nil, (scores.region?.score ?? -1) < bar { return -2 }
            return rank
        }
    }

    /// Runs the job's attempt as best-of-N / preserve (called by ``attempt(job:model:size:entry:provider:attemptKey:resumeHandle:)``).
    func consistencyAttempt(
        job: Job, model: ModelCard, size: ResolvedSize, entry: ProviderEntry, provider: any Provider, resumeHandle: String?
    ) async -> AttemptOutcome {
        let task = job.task
        let loadKey = UUIDv4.generate()
        defer { Task { [files] in await files.removeScratch(attemptKey: loadKey, failed: true) } }
        let timeout = entry.config.requestTimeoutSeconds
        let refs: [LoadedReference]
        let scoring: ConsistencyScoring
        do {
            refs = try await references.load(task, model: model, attemptKey: loadKey, timeoutSeconds: timeout)
            var against: [(bytes: [UInt8], field: String)] = []
            switch task.consistency?.against {
            case .references?:
                against = refs.enumerated().map { ($0.element.data, "/referenceImages/\($0.offset)") }
            case .image(let image)?:
                against = [
                    (try await loadOne(image, field: "/consistency/against", model: model, key: loadKey, timeout: timeout), "/consistency/against")
                ]
            case nil:
                break
            }
            var maskBytes: [UInt8]?
            if case .mask(let m)? = task.preserve?.region {
                maskBytes = try await loadOne(m, field: "/preserve/mask", model: model, key: loadKey, timeout: timeout)
            }
            scoring = try await ConsistencyScoring.prepare(
                against: against, protected: task.preserve == nil ? nil : refs.first?.data, region: task.preserve?.region, maskBytes: maskBytes)
        } catch let e as AtelierError {
            return .failure(ProviderError(e.code == .invalidReferenceImage ? .invalidRequest : e.code, e.message, field: e.field))
        } catch let e as ProviderError {
            return .failure(e)
        } catch {
            return .failure(ProviderError(.unavailable, "\(error)"))
        }

        let plan = SamplingPlan(task)
        let handles = CandidateHandles(resumeFrom: resumeHandle)
        var scored: [ScoredCandidate] = []
        while true {
            let candidates = scored.map { BestOfN.Candidate(imageUUID: $0.result.imageUUID, score: $0.decisionScore(plan), costUSD: $0.cost.usd) }
            switch BestOfN.decide(
                candidates: candidates, samples: plan.samples, minScore: plan.minScore, maxSamples: plan.maxSamples, onMiss: plan.onMiss)
            {
            case .sampleMore(let count):
                let round = await sampleRound(
                    count: count, first: scored.count, job: job, model: model, size: size, provider: provider, references: refs,
                    scoring: scoring, plan: plan, handles: handles)
                switch round {
                case .success(let more): scored += more
                case .failure(let error):
                    // The images already made are not kept (the attempt failed; a retry samples afresh).
                    await ResultCheck.discard(scored.map(\.result))
                    return .failure(error)
                }
            case .fail:
                return .missed(missError(scored, task: task, plan: plan), cost: CostFigure.total(scored.map(\.cost)))
            case .done(let best, let missed):
                guard let kept = scored.first(where: { $0.result.imageUUID == best.imageUUID }) else {
                    return .failure(ProviderError(.unavailable, "best-of-N lost its best candidate"))
                }
                return await keep(kept, of: scored, missedMinScore: missed, job: job, model: model, scoring: scoring)
            }
        }
    }

    /// Loads one image given by reference (`consistency.against`, `preserve.mask`) like a task's references,
    /// errors naming `field`.
    private func loadOne(_ image: ReferenceImage, field: String, model: ModelCard, key: String, timeout: Double) async throws(AtelierError) -> [UInt8]
    {
        var probe = ImageTask(positivePrompt: "-", referenceImages: [image])
        probe.taskUUID = key
        do {
            let loaded = try await references.load(probe, model: model, attemptKey: key, timeoutSeconds: timeout)
            return loaded.first?.data ?? []
        } catch {
            var e = error
            e.field = field
            e.message = e.message.replacingOccurrences(of: "/referenceImages/0", with: field)
            throw e
        }
    }

    /// `consistency_not_reached` (the consistency bar was missed) or `preserve_not_reached`, with every score.
    private func missError(_ scored: [ScoredCandidate], task: ImageTask, plan: SamplingPlan) -> AtelierError {
        let regionScores = scored.map { $0.scores.region?.score ?? 0 }
        if let c = task.consistency, let minScore = c.minScore, !scored.contains(where: { ($0.scores.consistency ?? 0) >= minScore }) {
            var e = BestOfN.notReachedError(scores: scored.map { $0.scores.consistency ?? 0 }, minScore: minScore)
            e.field = "/consistency/minScore"
            e.details.append("imageUUIDs", .array(scored.map { .string($0.result.imageUUID) }))
            if plan.regionMinScore != nil { e.details.append("preserveScores", .array(regionScores.map(JSONValue.number))) }
            return e
        }
        let bar = plan.regionMinScore ?? 0
        return AtelierError(
            .preserveNotReached,
            "no image kept the protected region at preserve.minScore \(bar) in \(scored.count) samples (best \(regionScores.max() ?? 0))",
            field: "/preserve/minScore",
            details: [
                "minScore": .number(bar), "scores": .array(regionScores.map(JSONValue.number)),
                "imageUUIDs": .array(scored.map { .string($0.result.imageUUID) }),
            ])
    }

    /// Generates `count` candidates (numbered from `first`): as many at once as the provider has free slots (the
    /// job's own slot plus slots borrowed from the provider's limit), in order of their numbers. Any failure fails
    /// the round; what was stored by the round is then removed.
    private func sampleRound(
        count: Int, first: Int, job: Job, model: ModelCard, size: ResolvedSize, provider: any Provider, references: [LoadedReference],
        scoring: ConsistencyScoring, plan: SamplingPlan, handles: CandidateHandles
    ) async -> Result<[ScoredCandidate], ProviderError> {
        var out: [ScoredCandidate] = []
        var next = first
        while next < first + count {
            let borrowed = borrowSlots(provider: model.provider, upTo: first + count - next - 1)
            let width = 1 + borrowed
            let indices = Array(next..<(next + width))
            next += width
            let outcomes = await withTaskGroup(of: (Int, Result<ScoredCandidate, ProviderError>).self) { group in
                for i in indices {
                    group.addTask {
                        (
                            i,
                            await self.sample(
                                i, job: job, model: model, size: size, provider: provider, references: references, scoring: scoring, handles: handles)
                        )
                    }
                }
                var all: [(Int, Result<ScoredCandidate, ProviderError>)] = []
                for await o in group { all.append(o) }
                return all.sorted { $0.0 < $1.0 }
            }
            returnSlots(provider: model.provider, count: borrowed)
            var failure: ProviderError?
            for (_, o) in outcomes {
                switch o {
                case .success(let c): out.append(c)
                case .failure(let e): if failure == nil || failure?.code == .cancelled { failure = e }
                }
            }
            if let failure {
                await ResultCheck.discard(out.map(\.result))
                return .failure(failure)
            }
        }
        return .success(out)
    }

    /// Candidate `index`: one provider call (resumed from its recorded handle when there is one), its first image
    /// stored and scored.
    private func sample(
        _ index: Int, job: Job, model: ModelCard, size: ResolvedSize, provider: any Provider, references: [LoadedReference],
        scoring: ConsistencyScoring, handles: CandidateHandles
    ) async -> Result<ScoredCandidate, ProviderError> {
        let key = UUIDv4.generate()
        let taskUUID = job.taskUUID
        let context = GenerationContext(
            recordResumeHandle: { [weak self] handle in
                handles.set(index, handle)
                guard let self else { return }
                try await self.recordCandidateHandles(taskUUID, handles)
            },
            isCancelled: cancelCheck(taskUUID))
        let outcome = await generateAndStore(
            job: job, model: model, size: size, provider: provider, references: references, attemptKey: key, resumeHandle: handles.handle(index),
            context: context, scratch: files.scratchRoot)
        switch outcome {
        case .failure(let e):
            await files.removeScratch(attemptKey: key, failed: true)
            return .failure(e)
        case .missed(let e, _):
            return .failure(ProviderError(e.code, e.message, field: e.field))
        case .success(let results):
            guard let result = results.first else { return .failure(ProviderError(.noImage, "the provider returned no image")) }
            await ResultCheck.discard(Array(results.dropFirst()))
            do {
                let scores = try await scoring.score(path: result.path, measureRequired: job.task.preserve?.mode == .measure)
                let cost = result.costFigure ?? model.catalogCost(size: size, referenceImages: job.task.referenceImages.count)
                return .success(ScoredCandidate(result: result, scores: scores, cost: cost))
            } catch {
                await ResultCheck.discard([result])
                return .failure(error)
            }
        }
    }

    /// The kept candidate as the job's result: costs summed, reports attached, composited when asked; files synced.
    private func keep(
        _ kept: ScoredCandidate, of scored: [ScoredCandidate], missedMinScore: Bool, job: Job, model: ModelCard, scoring: ConsistencyScoring
    ) async -> AttemptOutcome {
        var result = kept.result
        // The kept image carries what the whole sampling cost (each candidate's own cost is in the report).
        let total = CostFigure.total(scored.map(\.cost))
        result.costUSD = total?.usd
        result.costSource = total?.source
        if let c = job.task.consistency {
            result.consistency = ConsistencyReport(
                score: kept.scores.consistency ?? 0, minScore: c.minScore, missedMinScore: missedMinScore,
                candidates: scored.map { BestOfN.Candidate(imageUUID: $0.result.imageUUID, score: $0.scores.consistency ?? 0, costUSD: $0.cost.usd) })
        }
        if let p = job.task.preserve {
            let m = kept.scores.region
            var report = PreserveReport(mode: p.mode, score: m?.score, changedPixels: m?.changedPixels ?? 0, protectedPixels: m?.protectedPixels ?? 0)
            if p.mode == .composite {
                report.feather = ProtectedRegion.maxFeather
                report.sourceImageUUID = result.imageUUID
                do {
                    result = try await composited(result, job: job, model: model, scoring: scoring)
                } catch {
                    await ResultCheck.discard(scored.map(\.result))
                    return .failure(error)
                }
            }
            result.preserve = report
        }
        if configuration.durability == .full { await files.syncStored() }
        return .success([result])
    }

    /// `source` with the reference's protected pixels pasted in, stored as a new image of the job (the source stays
    /// stored). Keeps the source's cost, seed, verification and reports.
    private func composited(_ source: JobResult, job: Job, model: ModelCard, scoring: ConsistencyScoring) async throws(ProviderError) -> JobResult {
        let ext = (source.path as NSString).pathExtension
        let key = UUIDv4.generate()
        let scratch = files.scratchRoot + "/" + key + "." + ext
        try await scoring.composite(path: source.path, destination: scratch)
        let image = GeneratedImage(path: scratch, mimeType: source.mimeType, seed: source.seed, costUSD: source.costUSD)
        let taskUUID = job.taskUUID
        var stored: JobResult
        do {
            stored = try await untilFilesWritten(taskUUID) {
                try await files.store(image, taskUUID: taskUUID, imageUUID: UUIDv4.generate(), seed: source.seed, seedHonored: source.seedHonored)
            }
        } catch {
            await files.removeScratch(attemptKey: key, failed: true)
            throw ProviderError(error.code, error.message)
        }
        stored.costUSD = source.costUSD
        stored.costSource = source.costSource
        stored.note = source.note
        stored.verification = source.verification
        stored.consistency = source.consistency
        return stored
    }

    // MARK: - Provider slots and resume handles

    /// Takes up to `count` free slots of `provider` (its configured concurrency, shared with queued jobs) for extra
    /// candidates of a job already holding one; returns how many it took (maybe 0).
    func borrowSlots(provider: String, upTo count: Int) -> Int {
        guard count > 0 else { return 0 }
        let limit = registry.entry(provider)?.config.concurrency ?? 1
        let taken = max(0, min(count, limit - runningCount[provider, default: 0]))
        runningCount[provider, default: 0] += taken
        return taken
    }

    /// Gives back slots taken by ``borrowSlots(provider:upTo:)`` and starts queued jobs in them.
    func returnSlots(provider: String, count: Int) {
        guard count > 0 else { return }
        runningCount[provider, default: count] -= count
        pump()
    }

    /// Records the candidates' upstream handles as the attempt's one resume handle (read on the actor, so the
    /// latest set of handles is what commits).
    func recordCandidateHandles(_ taskUUID: String, _ handles: CandidateHandles) async throws {
        try await recordHandle(taskUUID, handles.encoded)
    }
}

/// The upstream handles of a best-of-N attempt's candidates, by candidate number, kept as the attempt's one resume
/// handle `candidates:{"0": handle, …}`, so a restart resumes each candidate that has one instead of paying for it
/// again.
final class CandidateHandles: Sendable {
    private static let prefix = "candidates:"
    private let state: Mutex<[Int: String]>

    /// The handles recorded by an interrupted attempt (none for another handle or none at all).
    init(resumeFrom handle: String?) {
        var map: [Int: String] = [:]
        if let handle, handle.hasPrefix(Self.prefix), case .object(let o)? = try? JSONParser.parse([UInt8](handle.dropFirst(Self.prefix.count).utf8))
        {
            for (k, v) in o { if let i = Int(k), let s = v.stringValue { map[i] = s } }
        }
        state = Mutex(map)
    }

    /// Records candidate `index`'s handle.
    func set(_ index: Int, _ handle: String) { state.withLock { $0[index] = handle } }

    /// Candidate `index`'s handle, if one was recorded.
    func handle(_ index: Int) -> String? { state.withLock { $0[index] } }

    /// The resume-handle form of every handle.
    var encoded: String {
        let map = state.withLock { $0 }
        var o = JSONObject()
        for (k, v) in map.sorted(by: { $0.key < $1.key }) { o.append(String(k), .string(v)) }
        return Self.prefix + JSONWriter.string(.object(o))
    }
}
