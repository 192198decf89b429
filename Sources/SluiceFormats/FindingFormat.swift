/// The finding formats Sluice understands (docs/formats.md §1).
public enum FindingFormat: String, Sendable, CaseIterable, Equatable {
    case guardduty, asff, ocsf, falco
}

/// What an input says about its records: `auto` recognises each record by its keys; an explicit
/// format dead-letters a record that is not of it (reason `format`).
public enum InputFormat: String, Sendable, CaseIterable, Equatable {
    case auto, guardduty, asff, ocsf, falco

    /// The explicit format, nil for `auto`. A switch, not `FindingFormat(rawValue: rawValue)`:
    /// asked once per record, and the string round trip was 0.75% of the source thread.
    public var required: FindingFormat? {
        switch self {
        case .auto: nil
        case .guardduty: .guardduty
        case .asff: .asff
        case .ocsf: .ocsf
        case .falco: .falco
        }
    }
}

/// The limits every command applies to one inbound record, so `run`, `test`, `backtest`,
/// `test-pattern` and playbooks accept and reject the same records.
public struct DecodeLimits: Sendable, Equatable {
    public var maxBytes: Int
    public var maxDepth: Int

    public init(maxBytes: Int, maxDepth: Int) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
    }

    /// The most bytes the findings of one split record may come to, each with the record's
    /// other fields (docs/formats.md §7): 16 records' worth. A hundred findings of a
    /// `BatchImportFindings` body fit many times over; a record built to multiply does not.
    public var maxSplitBytes: Int { maxBytes.multipliedReportingOverflow(by: 16).overflow ? .max : maxBytes * 16 }

    /// The run defaults (`max_message_bytes`, `max_depth` of the run configuration).
    public static let standard = DecodeLimits(maxBytes: 1 << 20, maxDepth: 64)
}
