import SluiceCore
import SluiceFormats

extension RouteTestReport {
    /// The events `sluice test` reports on, decoded and normalised as `sluice run` does (same
    /// limits, bare findings wrapped, split records one event per finding, the view under `sluice`).
    public static func decode(_ bytes: [UInt8]) -> Result<[JSON], DecodeRejection> {
        FindingDecoder().decodeOwned(bytes).map { $0.map(\.event) }
    }
}
