
/// The send-time silence check of jobs planned without the Hold stage's screening (no state
/// rule, inhibition or silence when they were planned): one shared value the job carries, so
/// planning allocates nothing for a check that, while no silence exists, is one atomic load.
protocol SendTimeSilences: Sendable {
    /// Whether a silence in force now holds `record`'s finding (finding `part` of a split record)
    /// for this route and target.
    func holds(route: String, target: String, record: SourceRecord, part: Int, findingID: String?) -> Bool
}

extension HoldGate: SendTimeSilences {
    func holds(route: String, target: String, record: SourceRecord, part: Int, findingID: String?) -> Bool {
        // The record's bytes are parsed only while some silence exists.
        guard stage.hasSilences, let bytes = record.value else { return false }
        return silencedAtSend(route: route, target: target, finding: .bytes(bytes, part: part), findingID: findingID)()
    }
}
