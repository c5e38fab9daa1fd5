import AtelierCore
import AtelierProviders
import Foundation

/// The verification of one provider call's stored results against the task (``ResultVerifier``), and the
/// repricing of a silent model substitution. Pure; the engine calls it once the files are stored (their pixel size
/// and MIME type were read from the bytes).
enum ResultCheck {
    /// `results` (stored from `images`, in order) with `verification` set. An image whose echoed model is another
    /// catalogued model of the same provider is priced at that model's catalog price (the substitution itself is
    /// always reported as a `model` mismatch).
    static func apply(
        _ results: [JobResult], images: [GeneratedImage], task: ImageTask, model: ModelCard, size: ResolvedSize, sentSeed: Int64?, catalog: Catalog
    ) -> [JobResult] {
        let requested = ResultVerifier.Requested(
            width: size.pixels.width, height: size.pixels.height, outputFormat: task.outputFormat, numberResults: task.numberResults,
            seed: sentSeed, upstreamModel: model.upstreamID)
        var out = results
        for i in out.indices {
            let image = i < images.count ? images[i] : nil
            let delivered = ResultVerifier.Delivered(
                width: out[i].width, height: out[i].height, mimeType: out[i].mimeType, model: image?.servedModel, seed: image?.seed,
                count: results.count)
            out[i].verification = ResultVerifier.verify(requested, delivered, index: i)
            let cost: CostFigure
            if let served = image?.servedModel, let serving = servingModel(served, instead: model, catalog: catalog) {
                // Billed as the model that served it: that model's catalog figure (unknown when it has no price).
                cost = serving.catalogCost(size: size, referenceImages: task.referenceImages.count)
            } else {
                cost = costFigure(of: image, model: model, size: size, referenceImages: task.referenceImages.count)
            }
            out[i].costUSD = cost.usd
            out[i].costSource = cost.source
        }
        return out
    }

    /// An image's cost as its provider gave it; a provider that gave no source: its number counts as estimated,
    /// no number as the catalog's figure (unknown for an unpublished price, never $0).
    static func costFigure(of image: GeneratedImage?, model: ModelCard, size: ResolvedSize, referenceImages: Int) -> CostFigure {
        if let image, let source = image.costSource { return CostFigure(usd: image.costUSD, source: source) }
        if let usd = image?.costUSD { return CostFigure(usd: usd, source: .estimated) }
        return model.catalogCost(size: size, referenceImages: referenceImages)
    }

    /// The catalogued model of `model`'s provider whose upstream id is `served`, when that is another model.
    static func servingModel(_ served: String, instead model: ModelCard, catalog: Catalog) -> ModelCard? {
        guard !ResultVerifier.isSameModel(served, model.upstreamID) else { return nil }
        return catalog.models.first { $0.provider == model.provider && ResultVerifier.isSameModel($0.upstreamID, served) }
    }
}

extension ResultCheck {
    /// Removes the files of results that are not kept, on the file thread pool (best effort: a file left behind
    /// is named by no job).
    static func discard(_ results: [JobResult]) async {
        guard !results.isEmpty else { return }
        let paths = results.map(\.path)
        _ = try? await FileWork.run { () throws(ProviderError) -> Void in
            for p in paths { try? FileManager.default.removeItem(atPath: p) }
        }
    }
}
