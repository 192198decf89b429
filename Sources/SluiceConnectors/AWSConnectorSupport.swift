import SluiceAWS
import SluiceCore
import SluiceHTTP

// What the AWS connectors (aws-securityhub, aws-eventbridge, aws-sns, aws-sqs) share: their
// common YAML keys (`AWSSettings`: region, endpoint, profile, credentials, assume_role,
// sts_endpoint), the client they make from them, and how AWS errors become outcomes.

extension DeliveryOutcome {
    /// Throttling, 5xx, expired credentials and transport trouble are retryable (with AWS's
    /// Retry-After when it sent one); any other AWS error is permanent.
    public init(_ error: AWSError) {
        self = error.isRetriable ? .retryable(error.description, retryAfter: error.retryAfter) : .permanent(error.description)
    }

    /// The outcome of one entry that a batch API rejected inside a 2xx answer.
    static func rejectedEntry(code: String, message: String) -> DeliveryOutcome {
        let text = "\(code): \(message)"
        return AWSError.isRetriable(code: code) ? .retryable(text) : .permanent(text)
    }
}

/// The configuration of a connector that calls AWS: the run checks its prerequisites before it
/// reads any input (`AWSSettings.unmetPrerequisite`).
protocol AWSConfigured {
    var aws: AWSSettings { get }
}

extension SecurityHubConnector.Configuration: AWSConfigured {}
extension EventBridgeConnector.Configuration: AWSConfigured {}
extension SNSConnector.Configuration: AWSConfigured {}
extension SQSConnector.Configuration: AWSConfigured {}

extension AWSSettings {
    /// Why an instance with these settings cannot work in this run, or nil: no region anywhere
    /// (the client cannot be made), or, offline, nothing to take credentials from but the
    /// instance metadata service (a laptop or CI runner has none: every delivery would wait for
    /// it, time out and be dead-lettered).
    public func unmetPrerequisite(offline: Bool, environment: [String: String]) -> String? {
        if DefaultCredentialsChain.region(configured: region, profile: profile, environment: environment) == nil {
            return "has no AWS region: set region: in its file, or AWS_REGION"
        }
        guard offline, !hasCredentialsSource(environment: environment) else { return nil }
        return "has no AWS credentials source but the instance metadata service, which an offline run (--input) does not rely on: "
            + "set credentials: or profile: in its file, or AWS_ACCESS_KEY_ID / AWS_PROFILE"
    }

    /// Static keys, a named profile that exists, credentials in the environment, web identity, a
    /// container credentials endpoint, or a default profile in the shared files.
    func hasCredentialsSource(environment env: [String: String]) -> Bool {
        func set(_ key: String) -> Bool { env[key]?.isEmpty == false }
        if accessKeyID != nil { return true }
        if ["AWS_ACCESS_KEY_ID", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI"].contains(where: set) { return true }
        let profiles = SharedConfigFiles.load(environment: env).profiles
        let name = profile ?? (set("AWS_PROFILE") ? env["AWS_PROFILE"] : nil) ?? "default"
        return profiles[name] != nil
    }
}

enum AWSConnectorSupport {
    /// The client for an instance: its settings, the shared HTTP client, the instance's timeout.
    static func client(_ settings: AWSSettings, context: ConnectorContext) throws -> AWSClient {
        try settings.makeClient(http: context.http, environment: context.environment, timeout: context.timeout)
    }

    /// Runs one single-call attempt as a task: delivered when the call returns, else the error's outcome.
    static func attempt(_ completion: @escaping @Sendable (DeliveryOutcome) -> Void, _ call: @escaping @Sendable () async throws(AWSError) -> Void) {
        Task {
            await unmarked {
                do throws(AWSError) {
                    try await call()
                    completion(.delivered)
                } catch {
                    completion(DeliveryOutcome(error))
                }
            }
        }
    }

    /// One attempt for a batch API that answers per entry (PutEvents, BatchImportFindings,
    /// SendMessageBatch, PublishBatch): each delivery becomes an entry (or is refused,
    /// permanently, before any call), the entries go in as few calls as `maxItems` and
    /// `maxBytes` allow, and `call` turns one call's entries into their outcomes, in order.
    /// A failed call fails its entries alike. Runs as a task.
    static func attempt<Entry: Sendable>(
        batch: [Delivery], completion: @escaping @Sendable ([DeliveryOutcome]) -> Void, maxItems: Int, maxBytes: Int,
        entry: @escaping @Sendable (Delivery) -> Result<Entry, PayloadRejection>, size: @escaping @Sendable (Entry) -> Int,
        call: @escaping @Sendable ([Entry]) async throws(AWSError) -> [DeliveryOutcome]
    ) {
        Task { await unmarked { completion(await sendEntries(batch, maxItems: maxItems, maxBytes: maxBytes, entry: entry, size: size, call: call)) } }
    }

    /// Runs `body` without the replay's HTTP marking: AWS API calls (and the credential fetches
    /// they may make) stay exactly as signed; SNS and SQS carry the marker as a message
    /// attribute (`FindingAttributes`), Security Hub as a `ProductFields` entry, and PutEvents
    /// has nowhere to carry it.
    static func unmarked(_ body: () async -> Void) async {
        await RequestMarking.$headers.withValue([]) { await body() }
    }

    static func sendEntries<Entry>(_ batch: [Delivery], maxItems: Int, maxBytes: Int, entry: (Delivery) -> Result<Entry, PayloadRejection>,
                                   size: (Entry) -> Int, call: ([Entry]) async throws(AWSError) -> [DeliveryOutcome]) async -> [DeliveryOutcome] {
        var outcomes = [DeliveryOutcome?](repeating: nil, count: batch.count)
        var entries: [(index: Int, entry: Entry, size: Int)] = []
        for (i, delivery) in batch.enumerated() {
            switch entry(delivery) {
            case .success(let e): entries.append((i, e, size(e)))
            case .failure(let reason): outcomes[i] = .permanent(reason.message)
            }
        }
        for group in chunks(entries, maxItems: maxItems, maxBytes: maxBytes, size: { $0.size }) {
            do {
                let results = try await call(group.map(\.entry))
                for (n, item) in group.enumerated() {
                    outcomes[item.index] = n < results.count ? results[n] : .retryable("no result for this entry")
                }
            } catch {
                for item in group { outcomes[item.index] = DeliveryOutcome(error) }
            }
        }
        return outcomes.map { $0 ?? .permanent("not sent") }
    }

    /// One entry's result in SQS `SendMessageBatch` and SNS `PublishBatch` answers, where entry
    /// ids are their positions ("0", "1", …): failed for the sender's fault is permanent unless
    /// the code says "later"; failed for AWS's fault is retryable.
    struct EntryFailure {
        var code: String
        var message: String
        var senderFault: Bool
    }

    static func outcomes(count: Int, successful: Set<String>, failed: [String: EntryFailure]) -> [DeliveryOutcome] {
        (0..<count).map { i in
            if let f = failed[String(i)] {
                let text = "\(f.code): \(f.message)"
                return f.senderFault && !AWSError.isRetriable(code: f.code) ? .permanent(text) : .retryable(text)
            }
            return successful.contains(String(i)) ? .delivered : .retryable("no result for this entry")
        }
    }

    /// The FIFO message group and deduplication ids of a delivery: the finding id for both, so
    /// one finding's updates stay in order and a retried send is dropped by AWS. Without a
    /// finding id, the group is "sluice" and the deduplication id a hash of the payload (FNV-1a,
    /// 64 bits, and its length), so FIFO targets without content-based deduplication accept it.
    static func fifoIDs(_ delivery: Delivery, fixedGroup: String?) -> (group: String, deduplication: String) {
        let id = delivery.findingID ?? delivery.summary?.id
        if let id, !id.isEmpty { return (fixedGroup ?? String(id.prefix(128)), String(id.prefix(128))) }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in delivery.payload { hash = (hash ^ UInt64(b)) &* 0x0000_0100_0000_01b3 }
        return (fixedGroup ?? "sluice", "\(String(hash, radix: 16))-\(delivery.payload.count)")
    }

    /// The region part of an ARN (`arn:aws:sns:eu-west-1:111122223333:alerts`), when present.
    static func region(ofARN arn: String) -> String? {
        let parts = arn.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 6, parts[0] == "arn", !parts[3].isEmpty else { return nil }
        return String(parts[3])
    }

    /// Splits deliveries into groups that fit an API's per-call limits, keeping their order.
    static func chunks<T>(_ items: [T], maxItems: Int, maxBytes: Int, size: (T) -> Int) -> [[T]] {
        var out: [[T]] = []
        var current: [T] = []
        var bytes = 0
        for item in items {
            let n = size(item)
            if !current.isEmpty && (current.count == maxItems || bytes + n > maxBytes) {
                out.append(current)
                current = []
                bytes = 0
            }
            current.append(item)
            bytes += n
        }
        if !current.isEmpty { out.append(current) }
        return out
    }
}

/// Message attributes that describe a finding (SNS subscription filter policies and SQS
/// consumers select on them without parsing the body): name, data type, value.
enum FindingAttributes {
    /// SNS and SQS take at most 10 attributes per message (SQS refuses the message, SNS cannot
    /// hand more to an SQS subscriber).
    static let limit = 10

    /// A replayed delivery's attributes start with `X-Sluice-Replay` (the replay's name, the same
    /// marker HTTP and Kafka targets get, `ReplayMarking`); the descriptive ones that no longer
    /// fit the limit are left out from the end (`finding.resource_type` first).
    static func of(_ delivery: Delivery) -> [(name: String, type: String, value: String)] {
        let described = describing(delivery)
        guard let replay = delivery.replay else { return described }
        return [(ReplayMarking.header, "String", replay)] + described.prefix(limit - 1)
    }

    static func describing(_ delivery: Delivery) -> [(name: String, type: String, value: String)] {
        var out: [(name: String, type: String, value: String)] = [("sluice.route", "String", delivery.route)]
        if let id = delivery.findingID, !id.isEmpty { out.append(("finding.id", "String", id)) }
        guard let s = delivery.summary else { return out }
        out.append(("finding.type", "String", s.type))
        if let severity = severityNumber(s.severity) { out.append(("finding.severity", "Number", severity)) }
        out.append(("finding.severity_label", "String", s.severityLabel.rawValue))
        // The normalised view (docs/formats.md §9): one filter policy for every input format.
        if let id = s.view?["severity_id"]?.clampedIntValue { out.append(("finding.severity_id", "Number", String(id))) }
        if let format = s.view?["format"]?.stringValue { out.append(("finding.format", "String", format)) }
        if !s.account.isEmpty { out.append(("finding.account", "String", s.account)) }
        if !s.region.isEmpty { out.append(("finding.region", "String", s.region)) }
        if !s.resourceType.isEmpty { out.append(("finding.resource_type", "String", s.resourceType)) }
        return out.filter { !$0.value.isEmpty }
    }

    /// A severity as an SNS/SQS Number (at most 38 digits, magnitude 10^-128 to 10^126), or nil
    /// when the finding's value cannot be one (1e300, NaN from a hostile finding): AWS would
    /// refuse the whole message, so the attribute is left out and the label still goes.
    static func severityNumber(_ d: Double) -> String? {
        guard d.isFinite, abs(d) < 1e15, d == 0 || abs(d) >= 1e-6 else { return nil }
        let text = JSON.numberText(d)
        return text.contains("e") ? nil : text
    }
}

extension JSONBuilder {
    /// An array of these values.
    static func list(_ items: [JSONBuilder]) -> JSONBuilder {
        let out = JSONBuilder.array()
        for item in items { out.append(item) }
        return out
    }

    /// Sets a string member when there is a value.
    func put(_ key: String, _ value: String?) {
        if let value, !value.isEmpty { self[key] = .string(value) }
    }
}
