import SluiceHTTP

/// One HTTP request for a batch of deliveries (Splunk HEC, Elasticsearch `_bulk`). Items the
/// target could never take (a payload that is not JSON) are left out of the body with their own
/// outcome, so they cannot spoil the others; the answer's outcomes, one per item sent, are put
/// back in the batch's order.
struct BatchRequest: Sendable {
    /// nil when no item was left to send.
    var request: HTTPRequest?
    /// Batch positions of the items in the body, in body order.
    var sent: [Int]
    /// Outcomes of the items left out, by batch position.
    var rejected: [Int: DeliveryOutcome]

    /// Sends the request and completes with one outcome per item of a batch of `count`;
    /// `classify` maps the answer to one outcome per item sent.
    func execute(on client: HTTPClient, count: Int,
                 classify: @escaping @Sendable (Result<HTTPResponse, HTTPClientError>, Int) -> [DeliveryOutcome],
                 completion: @escaping @Sendable ([DeliveryOutcome]) -> Void) {
        let (sent, rejected) = (sent, rejected)
        // No item left to send: every position has its rejection (a missing one would be a bug: retried, not lost).
        guard let request else { return completion((0..<count).map { rejected[$0] ?? .retryable("no outcome for this item") }) }
        client.execute(request) { result in
            let answered = classify(result, sent.count)
            var outcomes = (0..<count).map { rejected[$0] ?? .delivered }
            for (position, index) in sent.enumerated() { outcomes[index] = answered[position] }
            completion(outcomes)
        }
    }
}
