import SluiceCore
import SluiceFormats

extension RouteTestReport {
    /// One finding as `sluice test` judges it: the event routes match (bare findings wrapped, the
    /// view under `sluice`), and the bytes a pass-through target receives — the record as it came,
    /// or its own finding of a split record, never the view (`sluice run` sends the same).
    public struct Decoded: Sendable {
        public let event: JSON
        public let original: String

        public init(event: JSON, original: String) {
            self.event = event
            self.original = original
        }
    }

    /// The findings `sluice test` reports on, decoded and normalised as `sluice run` does (same
    /// limits and format: `RunSettings.findingDecoder(topic:)`; split records one finding each).
    public static func decode(_ bytes: [UInt8], with decoder: FindingDecoder = FindingDecoder()) -> Result<[Decoded], DecodeRejection> {
        var out: [Decoded] = []
        if let rejection = decoder.decode(bytes, { finding in
            out.append(Decoded(event: JSON(finding.event), original: String(decoding: finding.ownBytes ?? bytes, as: UTF8.self)))
        }) { return .failure(rejection) }
        return .success(out)
    }
}
