import Foundation
import SluiceCore
import SluiceFormats
import SluiceHTTP

/// `splunk-hec`: sends findings to Splunk's HTTP Event Collector, many per request: one POST to
/// `/services/collector/event` whose body is the events' JSON objects one after another, each
/// `{"time", "host", "source", "sourcetype", "index", "event": <the finding>}`.
///
/// HEC answers `{"text":"Success","code":0}`, or an error code. When it rejects one event of a
/// batch it names it (`invalid-event-number`): the events before it were indexed, that one never
/// will be (permanent), and the ones after it were not read (retryable) — one outcome per item.
/// Server busy (9), internal errors, 429 and 5xx are retryable; token, channel and format errors
/// are permanent.
///
/// ```yaml
/// name: splunk
/// type: splunk-hec
/// url: https://splunk.example.com:8088   # required; /services/collector/event is appended
/// token: ${SPLUNK_HEC_TOKEN}             # required; or file:/run/secrets/hec-token
/// index: security                        # optional; the token's default index otherwise
/// sourcetype: aws:cloudwatch:guardduty   # default: by the finding's format (see `defaultSourcetype`)
/// source: sluice                         # the default
/// host: sluice-prod                      # optional
/// channel: 0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba   # X-Splunk-Request-Channel (indexer acknowledgement)
/// tls: {ca_file: /etc/ssl/splunk-ca.pem} # see TLSConfiguration
/// batch: {max_items: 100, max_bytes: 1MB, max_wait: 1s}
/// ```
public final class SplunkHECConnector: BatchingConnector {
    public struct Configuration: Sendable {
        var endpoint: String
        var token: Secret
        var index: String?
        var source: String
        /// nil: the finding's format names it (`defaultSourcetype`).
        var sourcetype: String?
        var host: String?
        var channel: String?
        var tls: TLSOptions
    }

    let configuration: Configuration
    let client: HTTPClient
    let timeout: Duration
    /// `"host":…,"source":…,"sourcetype":…,"index":…` per finding format — the same for every
    /// event of a format, serialized once.
    private let metadataMembers: [FindingFormat: [UInt8]]

    init(configuration: Configuration, client: HTTPClient, timeout: Duration) {
        self.configuration = configuration
        self.client = client
        self.timeout = timeout
        var members: [FindingFormat: [UInt8]] = [:]
        for format in FindingFormat.allCases { members[format] = Self.metadataMembers(configuration, format: format) }
        metadataMembers = members
    }

    /// `"host":…,"source":…,"sourcetype":…,"index":…` of a finding of `format`.
    static func metadataMembers(_ configuration: Configuration, format: FindingFormat) -> [UInt8] {
        let metadata = JSONBuilder.object()
        if let host = configuration.host { metadata["host"] = .string(host) }
        metadata["source"] = .string(configuration.source)
        metadata["sourcetype"] = .string(configuration.sourcetype ?? defaultSourcetype(format))
        if let index = configuration.index { metadata["index"] = .string(index) }
        return Array(metadata.serialized().dropFirst().dropLast())  // always non-empty: sourcetype
    }

    /// The sourcetype when `sourcetype` is not set, by the finding's format: the Splunk Add-on for
    /// AWS's for GuardDuty (`aws:cloudwatch:guardduty`, today's default) and Security Hub findings
    /// (`aws:securityhub:finding`); `ocsf`, the sourcetype Splunk's OCSF-CIM add-on expects
    /// beside Security Lake's `aws:asl` (that one is for Security Lake's own Parquet input); and
    /// Falcosidekick's `falcosidekick` for Falco events (the same event object, so searches and
    /// dashboards made for Falcosidekick's HEC output find them). Digests and events of no known
    /// format keep the GuardDuty one.
    static func defaultSourcetype(_ format: FindingFormat) -> String {
        switch format {
        case .guardduty: return "aws:cloudwatch:guardduty"
        case .asff: return "aws:securityhub:finding"
        case .ocsf: return "ocsf"
        case .falco: return "falcosidekick"
        }
    }

    /// The request for a batch, and which deliveries it carries: a payload that is not JSON is
    /// left out (it would break HEC's parse of the whole body) and gets its own permanent outcome.
    func makeRequest(for batch: [Delivery]) -> BatchRequest {
        var body: [UInt8] = []
        body.reserveCapacity(batch.reduce(0) { $0 + $1.payload.count + metadataMembers.count + 40 })
        var sent: [Int] = []
        var rejected: [Int: DeliveryOutcome] = [:]
        for (i, delivery) in batch.enumerated() {
            if case .failure(let error) = JSONBuilder.parse(delivery.payload) {
                rejected[i] = .permanent("payload is not JSON (\(error.message)); Splunk HEC needs a JSON event")
                continue
            }
            Self.appendEvent(delivery, metadata: metadataMembers[delivery.summary?.format ?? .guardduty] ?? [], to: &body)
            sent.append(i)
        }
        guard !sent.isEmpty else { return BatchRequest(request: nil, sent: [], rejected: rejected) }
        var headers: [(name: String, value: String)] = [
            ("Authorization", "Splunk \(configuration.token.value)"), ("Content-Type", "application/json"),
        ]
        if let channel = configuration.channel { headers.append(("X-Splunk-Request-Channel", channel)) }
        let request = HTTPRequest(method: "POST", url: configuration.endpoint, headers: headers, body: body,
                                  timeout: timeout, tls: configuration.tls)
        return BatchRequest(request: request, sent: sent, rejected: rejected)
    }

    /// One event object. The payload (already checked to be JSON) is spliced in as bytes, not
    /// re-serialized: the finding reaches Splunk byte for byte, and a parse-and-dump per event is
    /// saved. `time` is written as text for the same reason: a double would print 17 digits.
    static func appendEvent(_ delivery: Delivery, metadata: [UInt8], to body: inout [UInt8]) {
        body += Array("{".utf8)
        if let updated = delivery.summary?.updatedAt, let time = FindingTimestamp(iso8601: updated) {
            body += Array("\"time\":\(time.epochSecondsText),".utf8)
        }
        body += metadata
        body += Array(",\"event\":".utf8)
        body += delivery.payload
        body += Array("}\n".utf8)
    }


    public func deliver(batch: [Delivery], completion: @escaping @Sendable ([DeliveryOutcome]) -> Void) {
        makeRequest(for: batch).execute(on: client, count: batch.count, classify: SplunkHECConnector.classify, completion: completion)
    }

    /// HEC's documented error codes ("Troubleshoot HTTP Event Collector"), by what to do next.
    static func isRetryable(hecCode code: Int) -> Bool {
        // 8 internal server error, 9 server busy, 18–20 unhealthy (queues full, ack service down).
        [8, 9, 18, 19, 20].contains(code)
    }

    /// One outcome per event sent, from HEC's answer to the batch.
    static func classify(_ result: Result<HTTPResponse, HTTPClientError>, count: Int) -> [DeliveryOutcome] {
        guard case .success(let response) = result else {
            return Array(repeating: WebhookConnector.classify(result), count: count)
        }
        let body = try? JSON.parse(response.bodyText)
        let code = body?["code"]?.clampedIntValue
        if (200..<300).contains(response.status), code == nil || code == 0 {
            return Array(repeating: .delivered, count: count)
        }
        let text = body?["text"]?.stringValue
        let message = "Splunk HEC \(response.status)" + (code.map { " code \($0)" } ?? "") + (text.map { ": \($0)" } ?? "")
        if let n = body?["invalid-event-number"]?.clampedIntValue, (0..<count).contains(n) {
            return (0..<count).map { i in
                i < n ? .delivered
                    : i == n ? .permanent(message)
                    : .retryable("not indexed: HEC stopped at the rejected event \(n) of the batch")
            }
        }
        let outcome: DeliveryOutcome
        if let code, isRetryable(hecCode: code) || HTTPOutcome.statusClass(response.status) == .retryable {
            outcome = .retryable(message, retryAfter: response.retryAfter)
        } else if code != nil {
            outcome = .permanent(message)
        } else {
            outcome = WebhookConnector.classify(result)
        }
        return Array(repeating: outcome, count: count)
    }
}

extension SplunkHECConnector: ConnectorType {
    public static let kind = "splunk-hec"
    public static let summary = "Splunk HTTP Event Collector, batched /services/collector/event"
    public static let payloadFormat = PayloadFormat.json
    public static let usesSummary = true
    public static let supportsBatching = true

    public static func configuration(from r: MappingReader) -> Configuration? {
        let url = r.httpURL("url", required: true)
        let token = r.secret("token", required: true)
        let index = r.string("index")
        let source = r.string("source") ?? "sluice"
        let sourcetype = r.string("sourcetype")
        let host = r.string("host")
        let channel = r.string("channel")
        if let channel, UUID(uuidString: channel) == nil {
            r.report(r.at("channel").error("'channel' must be a GUID such as 0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba"))
        }
        let tls = r.tlsOptions()
        guard let url, let token else { return nil }
        var endpoint = url
        if !url.contains("/services/collector") {
            while endpoint.hasSuffix("/") { endpoint.removeLast() }
            endpoint += "/services/collector/event"
        }
        return Configuration(endpoint: endpoint, token: token, index: index, source: source, sourcetype: sourcetype,
                             host: host, channel: channel, tls: tls)
    }

    /// The event object HEC receives for `delivery` (one of the batch body's objects).
    public static func wirePreview(of delivery: Delivery, configuration: Configuration) -> String? {
        var body: [UInt8] = []
        appendEvent(delivery, metadata: metadataMembers(configuration, format: delivery.summary?.format ?? .guardduty), to: &body)
        return String(decoding: body.dropLast(), as: UTF8.self)
    }

    public static func make(name: String, configuration: Configuration, context: ConnectorContext) throws -> any Connector {
        SplunkHECConnector(configuration: configuration, client: context.http, timeout: context.timeout)
    }
}
