import Foundation
import Logging
@testable import SluiceConnectors
import SluiceCore
import SluiceGuardDuty
import SluiceHTTP
import SluiceKafka
import SluiceTestSupport
import Testing

/// What the chat and paging connector tests share: the sample findings, instances loaded from
/// YAML the way `sluice run` loads them, deliveries rendered through the instance's template the
/// way the planner renders them, and one real HTTP client.
enum ChatConnectorFixture {
    static let http = HTTPClient()

    /// examples/findings/*.json, by file name.
    static let samples: [(name: String, event: JSON)] = {
        let dir = PackagePaths.root.appendingPathComponent("examples/findings")
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasSuffix(".json") }.sorted()
        return names.map { name in
            let text = (try? String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)) ?? ""
            return (name, (try? JSON.parse(text)) ?? .null)
        }
    }()

    /// The first sample with its title replaced by one that would break naive JSON: quotes,
    /// a backslash, a newline, a tab and Mustache braces.
    static let hostileTitle = "Quote \" backslash \\ newline\nand tab\t {{not a tag}} </script>"
    static var hostileSample: JSON {
        get throws {
            let dir = PackagePaths.root.appendingPathComponent("examples/findings")
            var object = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent(samples[0].name))) as! [String: Any]
            var detail = object["detail"] as! [String: Any]
            detail["title"] = hostileTitle
            object["detail"] = detail
            return try JSON.parse(String(decoding: JSONSerialization.data(withJSONObject: object), as: UTF8.self))
        }
    }

    /// Loads one instance from YAML through `ConnectorLoader`, as `sluice validate` and `run` do.
    static func definition(_ yaml: String, environment: [String: String] = [:]) throws -> ConnectorDefinition {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("connector-\(UUID().uuidString).yaml")
        try Data(yaml.utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let definitions = try ConnectorLoader.load(path: file.path, environment: environment)
        guard let d = definitions.first else { throw HarnessError("no connector in the YAML") }
        return d
    }

    /// The problems `ConnectorLoader` reports for `yaml` (empty when it loads).
    static func problems(_ yaml: String) -> [String] {
        do {
            _ = try definition(yaml)
            return []
        } catch let error as Diagnostics {
            return error.items.map(\.message)
        } catch {
            return ["\(error)"]
        }
    }

    static func connector(_ definition: ConnectorDefinition) throws -> any Connector {
        let context = ConnectorContext(http: http, kafka: KafkaConfig(), environment: [:], logger: Logger(label: "test"))
        return try definition.make(context: context)
    }

    /// A delivery of `event` as the planner builds it: rendered by the instance's template with
    /// the finding summary, keyed and identified by the finding id.
    static func delivery(_ event: JSON, for definition: ConnectorDefinition, route: String = "test-route") -> Delivery {
        let summary = FindingSummary(event: event)
        let payload = definition.template.map { PayloadRenderer.template($0).render(event, summary: summary) } ?? []
        let id = summary?.id
        return Delivery(payload: payload, key: id.map { Array($0.utf8) }, findingID: id, route: route, summary: summary)
    }

    static func deliver(_ delivery: Delivery, to connector: any Connector) async -> DeliveryOutcome {
        await withCheckedContinuation { continuation in
            connector.deliver(delivery) { continuation.resume(returning: $0) }
        }
    }

    /// Delivers every sample finding; returns the outcomes in order.
    static func deliverSamples(with definition: ConnectorDefinition, to connector: any Connector) async -> [DeliveryOutcome] {
        var outcomes: [DeliveryOutcome] = []
        for sample in samples { outcomes.append(await deliver(delivery(sample.event, for: definition), to: connector)) }
        return outcomes
    }

    /// Renders every sample (and the hostile title) through the type's built-in template and
    /// parses the result; returns the parsed documents (the hostile one last).
    static func renderedDefaults(_ yaml: String) throws -> [[String: Any]] {
        let d = try definition(yaml)
        #expect(d.template != nil, "the type has a built-in template")
        var out: [[String: Any]] = []
        for event in samples.map(\.event) + [try hostileSample] {
            let bytes = delivery(event, for: d).payload
            let parsed = try? JSONSerialization.jsonObject(with: Data(bytes))
            #expect(parsed is [String: Any], "not a JSON object: \(String(decoding: bytes, as: UTF8.self).prefix(400))")
            out.append(parsed as? [String: Any] ?? [:])
        }
        return out
    }

    /// The vendor module's store as a dictionary.
    static func store(_ receiver: WebhookReceiver) throws -> [String: Any] {
        try receiver.store() as? [String: Any] ?? [:]
    }

    /// The JSON bodies the receiver accepted.
    static func bodies(_ receiver: WebhookReceiver) throws -> [[String: Any]] {
        try receiver.records().map { try JSONSerialization.jsonObject(with: Data($0.body.utf8)) as? [String: Any] ?? [:] }
    }

    static func isPermanent(_ outcome: DeliveryOutcome, containing text: String) -> Bool {
        if case .permanent(let message) = outcome { return message.contains(text) }
        return false
    }

    static func retryAfter(_ outcome: DeliveryOutcome) -> Duration?? {
        if case .retryable(_, let after) = outcome { return .some(after) }
        return nil
    }

    static func message(_ outcome: DeliveryOutcome) -> String {
        switch outcome {
        case .delivered: return ""
        case .retryable(let m, _), .permanent(let m): return m
        }
    }
}

/// Follows string keys and integer indexes through parsed JSON (`dig(doc, "attachments", 0, "color")`).
func dig(_ value: Any?, _ path: Any...) -> Any? {
    var current = value
    for step in path {
        if let key = step as? String { current = (current as? [String: Any])?[key] } else if let i = step as? Int {
            guard let a = current as? [Any], a.indices.contains(i) else { return nil }
            current = a[i]
        }
    }
    return current
}
