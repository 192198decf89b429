import SluiceCore

/// The shapes GuardDuty findings arrive in: in an EventBridge envelope (`detail` holds the
/// finding), or bare, as the GuardDuty API and its S3 export write them. Bare findings are
/// matched and played as EventBridge would deliver them, so one set of routes serves both.
///
/// GuardDuty's own knowledge lives in this module (`FindingSummary`, `GuardDutyCriteria`, this
/// type); the engine around it (decode, match, plan, dispatch) is format-neutral.
public enum GuardDutyEnvelope {
    /// A GuardDuty finding not wrapped in an EventBridge envelope (read from the decoder's view).
    public static func isBareFinding(_ root: JSONView) -> Bool {
        root["detail-type"] == nil && root["schemaVersion"] != nil && root["type"] != nil && root["resource"] != nil
    }

    /// The EventBridge envelope GuardDuty would have put around `bytes`, the bare `finding`.
    public static func envelope(around bytes: [UInt8], finding: JSONView) -> [UInt8] {
        var head = #"{"version":"0","detail-type":"GuardDuty Finding","source":"aws.guardduty""#
        for (src, dst) in [("accountId", "account"), ("region", "region"), ("updatedAt", "time")] {
            if let v = finding[src]?.string {
                head += ",\"\(dst)\":"
                JSON.writeString(v, to: &head)
            }
        }
        head += #","resources":[],"detail":"#
        return Array(head.utf8) + bytes + [UInt8(ascii: "}")]
    }

    /// The finding id (`detail.id`, or `id` of a bare finding).
    public static func findingID(_ event: JSONView) -> String? {
        event["detail"]?["id"]?.string ?? event["id"]?.string
    }

    /// An owned event in its envelope: an event with `detail` as it is, a bare finding (it has
    /// `schemaVersion` or `resource`) wrapped, anything else as it is.
    public static func wrapped(_ event: JSON) -> JSON {
        if event["detail"] != nil { return event }
        guard event["schemaVersion"] != nil || event["resource"] != nil else { return event }
        return [
            "version": "0", "id": event["id"] ?? .null, "detail-type": "GuardDuty Finding", "source": "aws.guardduty",
            "account": event["accountId"] ?? .null, "region": event["region"] ?? .null, "detail": event,
        ]
    }

    /// The finding id of an owned event (`detail.id`, or `id` of a bare finding).
    public static func findingID(_ event: JSON) -> String? {
        event.value(atPath: "detail.id")?.stringValue ?? event["id"]?.stringValue
    }
}
