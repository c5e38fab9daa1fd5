import AtelierCore

extension ReproductionReport {
    /// Reads a `job.reproduce` answer (`{taskUUID, reproductionTaskUUID, status, identical, images, differences, job}`).
    init(reading v: JSONValue) throws(AtelierClientError) {
        let r = try AnswerReader(v, "reproduction report")
        let job: Job
        do { job = try Job(json: v["job"] ?? .null) } catch { throw AtelierClientError.badResponse("reproduction report: job: \(error)") }
        var images: [Image] = []
        for x in try r.array("images") {
            let i = try AnswerReader(x, "reproduced image")
            images.append(
                Image(
                    index: try i.int("index"), imageUUID: try i.string("imageUUID"), sha256: try i.string("sha256"),
                    reproducedImageUUID: i.optionalString("reproducedImageUUID"), reproducedSHA256: i.optionalString("reproducedSHA256"),
                    reproducedPath: i.optionalString("reproducedPath"), identical: try i.bool("identical")))
        }
        self.init(
            taskUUID: try r.string("taskUUID"), reproduction: job, identical: v["identical"]?.boolValue, images: images,
            differences: try r.array("differences").compactMap(\.stringValue))
    }
}
