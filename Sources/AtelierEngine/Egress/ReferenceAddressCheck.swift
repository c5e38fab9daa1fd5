import AtelierCore

/// Submit-time check of `http(s)` reference images: a URL whose host is a literal address the ``AddressPolicy``
/// forbids is refused at once (`invalid_reference_image`, `data.reason: "forbidden_address"`, at
/// `/referenceImages/<i>`). Host names, and redirects, are checked when the image is fetched
/// (``EgressHTTPTransport``).
public struct ReferenceAddressCheck: TaskCheck {
    /// The policy applied.
    public let policy: AddressPolicy

    public init(policy: AddressPolicy) { self.policy = policy }

    public func check(_ task: ImageTask) throws(AtelierError) {
        for (i, r) in task.referenceImages.enumerated() {
            guard case .url(let url) = r, let host = AddressPolicy.host(of: url), let ip = AddressPolicy.literal(host),
                let range = policy.forbiddingRange(ip)
            else { continue }
            throw AtelierError(
                .invalidReferenceImage, "\(URLCheck.redacted(url)) points at \(ip), which \(AddressPolicy.refusal(range))",
                field: "/referenceImages/\(i)", details: ["reason": "forbidden_address"])
        }
    }
}
