import Foundation
import SluiceCore
import SluiceFormats
import SluiceHTTP

/// `elasticsearch` (also OpenSearch): indexes findings with the `_bulk` API, many per request.
/// Each finding is an `index` action whose `_id` is the finding id, so a repeat of the finding
/// updates its document instead of adding one. The index name may carry a date pattern, filled
/// from the finding's `createdAt` (UTC): stable across the finding's updates, so every update
/// lands on the same document.
///
/// A bulk answer can be a success with some items failed (`"errors": true`): each item gets its
/// own outcome — 2xx delivered, 429 and 5xx retryable, other 4xx (`mapper_parsing_exception`,
/// bad index names) permanent. Whole-request failures are classified like any HTTP target.
///
/// ```yaml
/// name: siem
/// type: elasticsearch
/// url: https://es.example.com:9200      # required; /_bulk is appended
/// index: guardduty-%Y.%m.%d             # %Y %m %d %H from the finding's createdAt; default by format (`defaultIndex`)
/// username: sluice                      # basic auth (with password) …
/// password: ${ES_PASSWORD}
/// api_key: ${ES_API_KEY}                # … or an API key (the encoded form), not both
/// pipeline: guardduty                   # optional ingest pipeline
/// tls: {ca_file: /etc/ssl/es-ca.pem}    # see TLSConfiguration
/// batch: {max_items: 500, max_bytes: 5MB, max_wait: 1s}
/// ```
public final class ElasticsearchConnector: BatchingConnector {
    public struct Configuration: Sendable {
        var endpoint: String
        /// nil: the finding's format names it (`defaultIndex`).
        var indexPattern: String?
        var authorization: Secret?
        var tls: TLSOptions
    }

    let configuration: Configuration
    let client: HTTPClient
    let timeout: Duration

    init(configuration: Configuration, client: HTTPClient, timeout: Duration) {
        self.configuration = configuration
        self.client = client
        self.timeout = timeout
    }

    /// The index a finding goes to.
    func index(for delivery: Delivery) -> String {
        Self.index(for: delivery, pattern: configuration.indexPattern)
    }

    static func index(for delivery: Delivery, pattern: String?) -> String {
        let time = (delivery.summary?.createdAt).flatMap(FindingTimestamp.init(iso8601:))
            ?? (delivery.summary?.updatedAt).flatMap(FindingTimestamp.init(iso8601:)) ?? .now()
        return time.formatted(pattern ?? defaultIndex(delivery.summary?.format ?? .guardduty))
    }

    /// The index pattern when `index` is not set, by the finding's format: `guardduty-%Y.%m.%d`
    /// (today's default), `securityhub-…` for ASFF, `ocsf-…`, and `falco-…` (Falcosidekick's
    /// index `falco` with its daily suffix). Digests and events of no known format keep the
    /// GuardDuty one. The date is the finding's first sighting (`createdAt`; first seen for the
    /// other formats), so a finding's updates land on its document.
    static func defaultIndex(_ format: FindingFormat) -> String {
        switch format {
        case .guardduty: return "guardduty-%Y.%m.%d"
        case .asff: return "securityhub-%Y.%m.%d"
        case .ocsf: return "ocsf-%Y.%m.%d"
        case .falco: return "falco-%Y.%m.%d"
        }
    }

    /// The `_bulk` request for a batch, and which deliveries it carries: a payload that is not a
    /// JSON object cannot be a document and gets its own permanent outcome.
    func makeRequest(for batch: [Delivery]) -> BatchRequest {
        var body: [UInt8] = []
        body.reserveCapacity(batch.reduce(0) { $0 + $1.payload.count + 120 })
        var sent: [Int] = []
        var rejected: [Int: DeliveryOutcome] = [:]
        for (i, delivery) in batch.enumerated() {
            switch Self.bulkLines(for: delivery, pattern: configuration.indexPattern) {
            case .failure(let problem):
                rejected[i] = .permanent(problem.message)
            case .success(let lines):
                body += lines
                sent.append(i)
            }
        }
        guard !sent.isEmpty else { return BatchRequest(request: nil, sent: [], rejected: rejected) }
        var headers: [(name: String, value: String)] = [("Content-Type", "application/x-ndjson")]
        if let auth = configuration.authorization { headers.append(("Authorization", auth.value)) }
        let request = HTTPRequest(method: "POST", url: configuration.endpoint, headers: headers, body: body,
                                  timeout: timeout, tls: configuration.tls)
        return BatchRequest(request: request, sent: sent, rejected: rejected)
    }


    struct DocumentProblem: Error { let message: String }

    /// The action line and the document line of one delivery, each ending in a line feed.
    static func bulkLines(for delivery: Delivery, pattern: String?) -> Result<[UInt8], DocumentProblem> {
        switch JSONBuilder.parse(delivery.payload) {
        case .failure(let error):
            return .failure(DocumentProblem(message: "payload is not JSON (\(error.message)); a document must be a JSON object"))
        case .success(let document) where !document.isObject:
            return .failure(DocumentProblem(message: "payload is not a JSON object; a document must be one"))
        case .success: break
        }
        let target = JSONBuilder.object()
        target["_index"] = .string(index(for: delivery, pattern: pattern))
        if let id = delivery.findingID ?? delivery.summary?.id, !id.isEmpty { target["_id"] = .string(id) }
        let action: JSONBuilder = ["index": target]
        var lines = action.serialized()
        lines.append(0x0A)
        // The source goes as sent, on one line. In valid JSON a raw CR or LF can only be
        // whitespace between tokens (inside strings they must be escaped), so turning them into
        // spaces is lossless, and cheaper than parsing and re-serializing every finding.
        lines += delivery.payload.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 }
        lines.append(0x0A)  // _bulk needs the last line terminated too
        return .success(lines)
    }

    public func deliver(batch: [Delivery], completion: @escaping @Sendable ([DeliveryOutcome]) -> Void) {
        makeRequest(for: batch).execute(on: client, count: batch.count, classify: ElasticsearchConnector.classify, completion: completion)
    }

    /// One outcome per action sent, from the `_bulk` answer.
    static func classify(_ result: Result<HTTPResponse, HTTPClientError>, count: Int) -> [DeliveryOutcome] {
        guard case .success(let response) = result, (200..<300).contains(response.status) else {
            return Array(repeating: WebhookConnector.classify(result), count: count)
        }
        guard let body = try? JSON.parse(response.bodyText), let errors = body["errors"]?.boolValue else {
            // Indexed or not, we cannot tell; sending again is safe: the _id makes it an overwrite.
            return Array(repeating: .retryable("bulk answer without 'errors': \(response.bodyText.prefix(200))"), count: count)
        }
        if !errors { return Array(repeating: .delivered, count: count) }
        guard let items = body["items"]?.arrayValue, items.count == count else {
            return Array(repeating: .retryable("bulk answer has no item per action"), count: count)
        }
        return items.map { item in
            guard case .object(let members) = item, let result = members.first?.value,
                  let status = result["status"]?.clampedIntValue else {
                return .retryable("bulk item without a status")
            }
            if (200..<300).contains(status) { return .delivered }
            let type = result["error"]?["type"]?.stringValue ?? "error"
            let reason = result["error"]?["reason"]?.stringValue.map { ": \($0.prefix(200))" } ?? ""
            let message = "bulk item \(status) \(type)\(reason)"
            return HTTPOutcome.statusClass(status) == .retryable ? .retryable(message) : .permanent(message)
        }
    }

    /// Whether an index name (a pattern already expanded) is one Elasticsearch accepts.
    static func indexNameProblem(_ name: String) -> String? {
        if name.isEmpty || name == "." || name == ".." { return "index name must not be empty, '.' or '..'" }
        if name != name.lowercased() { return "index names must be lowercase" }
        if let c = name.first(where: { "\\/*?\"<>| ,#:".contains($0) }) { return "index names must not contain '\(c)'" }
        if let c = name.first, "-_+".contains(c) { return "index names must not start with '\(c)'" }
        if name.utf8.count > 255 { return "index names are at most 255 bytes" }
        return nil
    }
}

extension ElasticsearchConnector: ConnectorType {
    public static let kind = "elasticsearch"
    public static let summary = "Elasticsearch / OpenSearch _bulk indexing, finding id as document id"
    public static let payloadFormat = PayloadFormat.json
    public static let usesSummary = true
    public static let supportsBatching = true

    public static func configuration(from r: MappingReader) -> Configuration? {
        let url = r.httpURL("url", required: true)
        let configured = r.string("index")
        let pattern = configured ?? defaultIndex(.guardduty)
        var patternOK = true
        var previous: Character?
        for ch in pattern {
            if previous == "%" {
                if !FindingTimestamp.patternLetters.contains(ch) {
                    r.report(r.at("index").error("'index' may use %Y, %m, %d, %H and %%, not %\(ch)"))
                    patternOK = false
                }
                previous = ch == "%" ? nil : ch
            } else {
                previous = ch
            }
        }
        if previous == "%" {
            r.report(r.at("index").error("'index' ends with a lone %"))
            patternOK = false
        }
        if patternOK, let problem = indexNameProblem(FindingTimestamp(epochMilliseconds: 0).formatted(pattern)) {
            r.report((r.node("index") ?? r.node).error("'index': \(problem)"))
        }
        let username = r.string("username")
        let password = r.secret("password")
        let apiKey = r.secret("api_key")
        let pipeline = r.string("pipeline")
        let tls = r.tlsOptions()
        var authorization: Secret?
        switch (username, password, apiKey) {
        case (nil, nil, nil): break
        case (let u?, let p?, nil): authorization = Secret("Basic " + Data("\(u):\(p.value)".utf8).base64EncodedString())
        case (nil, nil, let key?): authorization = Secret("ApiKey \(key.value)")
        default: r.report(r.node.error("give 'username' with 'password', or 'api_key', not both"))
        }
        guard let url else { return nil }
        var endpoint = url
        while endpoint.hasSuffix("/") { endpoint.removeLast() }
        endpoint += "/_bulk"
        if let pipeline {
            endpoint += "?pipeline=" + (pipeline.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(["&", "=", "+"])) ?? pipeline)
        }
        return Configuration(endpoint: endpoint, indexPattern: configured, authorization: authorization, tls: tls)
    }

    /// The two `_bulk` lines of `delivery`: the index action and the document.
    public static func wirePreview(of delivery: Delivery, configuration: Configuration) -> String? {
        switch bulkLines(for: delivery, pattern: configuration.indexPattern) {
        case .success(let lines): return String(decoding: lines.dropLast(), as: UTF8.self)
        case .failure(let problem): return "not sent: \(problem.message)"
        }
    }

    public static func make(name: String, configuration: Configuration, context: ConnectorContext) throws -> any Connector {
        ElasticsearchConnector(configuration: configuration, client: context.http, timeout: context.timeout)
    }
}
