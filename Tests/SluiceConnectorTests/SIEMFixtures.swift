import Foundation
import Logging
import SluiceConnectors
import SluiceCore
import SluiceFormats
import SluiceGuardDuty
import SluiceHTTP
import SluiceKafka
import SluiceTestSupport

/// What the SIEM connector tests share: sample findings as deliveries, and live connectors made
/// from YAML through `ConnectorLoader` (the path `sluice run` takes).
enum SIEMFixtures {
    /// examples/findings/<name>, as the pipeline hands it to a connector with no template: the
    /// finding's own bytes (pretty-printed, several lines), its id and its summary.
    static func delivery(_ name: String, route: String = "siem") throws -> Delivery {
        let url = PackagePaths.root.appendingPathComponent("examples/findings/\(name)")
        let bytes = try [UInt8](Data(contentsOf: url))
        let event = try JSON.parse(String(decoding: bytes, as: UTF8.self))
        let summary = FindingSummary(event: event)
        return Delivery(payload: bytes, key: summary.map { Array($0.id.utf8) }, findingID: summary?.id, route: route, summary: summary)
    }

    /// examples/findings/<name> of any format, decoded as the pipeline decodes it (the first
    /// finding of the record): its bytes, id and the summary made from its normalised view.
    static func decodedDelivery(_ name: String, route: String = "siem") throws -> Delivery {
        let url = PackagePaths.root.appendingPathComponent("examples/findings/\(name)")
        let bytes = try [UInt8](Data(contentsOf: url))
        var summaries: [FindingSummary?] = []
        if let rejection = FindingDecoder().decode(bytes, { summaries.append($0.materialized().summary) }) {
            throw HarnessError("\(name) does not decode: \(rejection)")
        }
        guard let first = summaries.first, let summary = first else { throw HarnessError("\(name) has no finding of a known format") }
        return Delivery(payload: bytes, key: Array(summary.id.utf8), findingID: summary.id, route: route, summary: summary)
    }

    static let findings = ["01-ec2-cryptominer.json", "03-eks-container-mining.json", "05-ecs-fargate-reverse-shell.json",
                           "07-iam-tor-caller.json", "08-s3-anomalous-behavior.json", "09-ec2-ssh-bruteforce-low.json"]

    /// The definitions in a YAML text (written to a temporary file and loaded).
    static func definitions(_ yaml: String, environment: [String: String] = [:]) throws -> [ConnectorDefinition] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("siem-\(UUID().uuidString).yaml").path
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try ConnectorLoader.load(path: path, environment: environment)
    }

    /// The validation messages for a YAML text ([] when it is valid).
    static func problems(_ yaml: String, environment: [String: String] = [:]) -> [String] {
        do {
            _ = try definitions(yaml, environment: environment)
            return []
        } catch let error as Diagnostics {
            return error.items.map(\.message)
        } catch {
            return ["\(error)"]
        }
    }

    static func context(_ http: HTTPClient) -> ConnectorContext {
        ConnectorContext(http: http, kafka: KafkaConfig(), environment: [:], logger: Logger(label: "siem-test"))
    }

    /// The one connector a YAML text defines, live.
    static func connector(_ yaml: String, http: HTTPClient, environment: [String: String] = [:]) throws -> any Connector {
        let defs = try definitions(yaml, environment: environment)
        return try defs[0].make(context: context(http))
    }

    /// One `deliver`, awaited.
    static func attempt(_ connector: any Connector, _ delivery: Delivery) async -> DeliveryOutcome {
        await withCheckedContinuation { c in connector.deliver(delivery) { c.resume(returning: $0) } }
    }

    /// One `deliver(batch:)`, awaited.
    static func attempt(_ connector: any Connector, batch: [Delivery]) async throws -> [DeliveryOutcome] {
        guard let batching = connector as? any BatchingConnector else { throw HarnessError("not a BatchingConnector") }
        return await withCheckedContinuation { c in batching.deliver(batch: batch) { c.resume(returning: $0) } }
    }

    static func isRetryable(_ o: DeliveryOutcome) -> Bool { if case .retryable = o { return true }; return false }
    static func isPermanent(_ o: DeliveryOutcome) -> Bool { if case .permanent = o { return true }; return false }
}
