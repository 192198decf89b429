import SluiceHTTP

/// `X-Sluice-Replay: NAME` on the requests of the HTTP connectors whose receivers are the user's
/// (webhook, the chat and paging connectors, splunk-hec, elasticsearch), so a receiver can tell a
/// replay from a repeat. The one place that decides the header; each of those connectors adds
/// what it returns where it builds its headers.
enum ReplayMarking {
    static let header = "X-Sluice-Replay"

    /// The header for a request carrying `deliveries`: the replay's name when all of them belong
    /// to the same replay; none for live traffic, and none for a batch that mixes a replay with
    /// live or other deliveries (the header speaks for the whole request, and would lie for some).
    static func headers(for deliveries: some Collection<Delivery>) -> [(name: String, value: String)] {
        guard let name = deliveries.first?.replay, deliveries.allSatisfy({ $0.replay == name }) else { return [] }
        return [(header, name)]
    }

    static func headers(for delivery: Delivery) -> [(name: String, value: String)] {
        headers(for: CollectionOfOne(delivery))
    }
}
