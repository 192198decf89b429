import SluiceFormats
import SluiceGuardDuty

extension FindingSummary {
    /// The finding's format as its normalised view names it (`sluice.format`): what the SIEM
    /// connectors' per-format defaults (CEF vendor, SD-ID, sourcetype, index) follow. GuardDuty
    /// for a summary read without a view, as it was before there were other formats.
    var format: FindingFormat {
        view?["format"]?.stringValue.flatMap(FindingFormat.init(rawValue:)) ?? .guardduty
    }

    /// `sluice.product` (ASFF `ProductName`, OCSF `metadata.product.name`, `Falco`, `GuardDuty`).
    var product: String { view?["product"]?.stringValue ?? "" }
}
