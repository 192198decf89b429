import Foundation
import Logging
import SluiceConnectors
import SluiceCore
import SluiceGuardDuty
import SluiceHTTP
import SluiceKafka
import SluiceTestSupport
import Testing

/// Shared by the ticketing and signing tests: the sample findings, instances built from YAML
/// through the real loader, deliveries rendered with the instance's template, one attempt.
enum TicketingFixtures {
    struct Finding {
        var file: String
        var event: JSON
        var summary: FindingSummary
    }

    /// examples/findings/*.json, parsed and summarised.
    static func findings() throws -> [Finding] {
        let dir = PackagePaths.root.appendingPathComponent("examples/findings")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }.sorted()
        return try files.map { file in
            let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
            let event = try JSON.parse(text)
            let summary = try #require(FindingSummary(event: event), "\(file) is not a finding")
            return Finding(file: file, event: event, summary: summary)
        }
    }

    static let http = HTTPClient()

    /// Loads one instance from YAML text (through a temporary file, as `sluice` does).
    static func definition(_ yaml: String, environment: [String: String] = [:]) throws -> ConnectorDefinition {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("connector-\(UUID().uuidString).yaml")
        try Data(yaml.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        do {
            return try #require(try ConnectorLoader.load(path: file.path, environment: environment).first)
        } catch let error as Diagnostics {
            throw HarnessError(error.items.map(\.description).joined(separator: "; "))
        }
    }

    /// The diagnostics of an instance that must not validate.
    static func problems(_ yaml: String, environment: [String: String] = [:]) -> [String] {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("connector-\(UUID().uuidString).yaml")
        try? Data(yaml.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        do {
            _ = try ConnectorLoader.load(path: file.path, environment: environment)
            return []
        } catch {
            return error.items.map(\.description)
        }
    }

    static func make(_ definition: ConnectorDefinition) throws -> any Connector {
        try definition.make(context: ConnectorContext(http: http, kafka: KafkaConfig(), environment: [:], logger: Logger(label: "test")))
    }

    /// The delivery the pipeline would hand the instance: its template rendered with the summary.
    static func delivery(_ f: Finding, for definition: ConnectorDefinition, route: String = "guardduty-high", count: Int? = nil, attempt: Int = 1) -> Delivery {
        var summary = f.summary
        if let count { summary.count = count }
        let payload = definition.template.map { Array($0.render(f.event, summary: summary).utf8) } ?? Array(f.event.serialized().utf8)
        return Delivery(payload: payload, key: Array(summary.id.utf8), findingID: summary.id, route: route, attempt: attempt, summary: summary)
    }

    static func deliver(_ connector: any Connector, _ delivery: Delivery) async -> DeliveryOutcome {
        await withCheckedContinuation { c in connector.deliver(delivery) { c.resume(returning: $0) } }
    }

    static func message(of outcome: DeliveryOutcome) -> String {
        switch outcome {
        case .delivered: return ""
        case .retryable(let m, _), .permanent(let m): return m
        }
    }

    static func isPermanent(_ outcome: DeliveryOutcome) -> Bool {
        if case .permanent = outcome { return true }
        return false
    }

    /// A JSON object from the vendor store, by path of keys.
    static func object(_ any: Any?, _ keys: String...) -> [String: Any] {
        var v = any
        for k in keys { v = (v as? [String: Any])?[k] }
        return v as? [String: Any] ?? [:]
    }
}
