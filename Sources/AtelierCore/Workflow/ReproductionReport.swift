/// What `job.reproduce` found: the reproduction job and, per image, whether its bytes match the original's, with
/// every difference that explains a mismatch (model version, seed, parameters, references). The server renders it
/// (docs/protocol.md).
public struct ReproductionReport: Sendable {
    /// One original image against the reproduction's image at the same index.
    public struct Image: Sendable, Equatable {
        /// The index in the job's results.
        public var index: Int
        /// The original image.
        public var imageUUID: String
        /// The original image's SHA-256.
        public var sha256: String
        /// The reproduction's image at this index, when it made one.
        public var reproducedImageUUID: String?
        /// Its SHA-256.
        public var reproducedSHA256: String?
        /// Its file.
        public var reproducedPath: String?
        /// Whether the bytes are the same.
        public var identical: Bool

        /// One image's comparison.
        public init(
            index: Int, imageUUID: String, sha256: String, reproducedImageUUID: String?, reproducedSHA256: String?, reproducedPath: String?,
            identical: Bool
        ) {
            self.index = index
            self.imageUUID = imageUUID
            self.sha256 = sha256
            self.reproducedImageUUID = reproducedImageUUID
            self.reproducedSHA256 = reproducedSHA256
            self.reproducedPath = reproducedPath
            self.identical = identical
        }
    }

    /// The original job.
    public var taskUUID: String
    /// The reproduction job as it was when compared (still running when the wait timed out).
    public var reproduction: Job
    /// Whether every image matches; nil while the reproduction is unfinished.
    public var identical: Bool?
    /// The images, in the original's order.
    public var images: [Image]
    /// Why they differ, as far as the recipes tell.
    public var differences: [String]

    /// A report on `reproduction` of job `taskUUID`.
    public init(taskUUID: String, reproduction: Job, identical: Bool?, images: [Image], differences: [String]) {
        self.taskUUID = taskUUID
        self.reproduction = reproduction
        self.identical = identical
        self.images = images
        self.differences = differences
    }
}
