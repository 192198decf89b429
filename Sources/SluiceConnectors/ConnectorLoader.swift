import Foundation
import SluiceAWS
import SluiceCore
import SluiceFormats
import SluiceGuardDuty
import SluiceHTTP

/// A connector instance read and validated from `connectors/`, not yet connected.
public struct ConnectorDefinition: Sendable {
    public let name: String
    public let kind: String
    public let summary: String
    public let payloadFormat: PayloadFormat
    /// How values are escaped in templates rendered for this instance (route templates included).
    public let templateFormat: PayloadTemplate.Format
    public let policy: DeliveryPolicy
    /// The instance's payload template (`template:`) or its type's default; nil: the finding's bytes.
    public let template: PayloadTemplate?
    /// Whether deliveries carry a `FindingSummary` (the type reads it).
    public let usesSummary: Bool
    /// `format: ocsf` (kafka, webhook, aws-* but aws-securityhub): every finding is sent as an OCSF Detection
    /// Finding of this schema version (`ocsf_version:`, default 1.1.0), whatever its input format.
    public var ocsfVersion: String? = nil
    /// The type's default digest template (`ConnectorType.defaultDigestTemplate`), compiled with
    /// this instance's escaping; nil: the generic JSON digest.
    public var digestTemplate: PayloadTemplate? = nil
    public let location: Diagnostic
    /// Where the instance's own `template:` is written (nil: the type's default).
    public var templateLocation: Diagnostic? = nil
    /// The instance's configured secrets (`secret` keys, credential headers): scrubbed from
    /// every outcome its connector reports.
    let secrets: SecretScrubber
    /// The instance names no brokers of its own and must use the run's (`kafka` without `brokers:`).
    public let needsRunBrokers: Bool
    /// The AWS settings of an `aws-*` instance (their prerequisites are checked before a run).
    public let aws: AWSSettings?
    let factory: @Sendable (ConnectorContext) throws -> any Connector
    /// What the instance puts on the wire for a delivery, when it frames the payload
    /// (`ConnectorType.wirePreview`); nil when the payload goes as it is.
    public var wirePreview: (@Sendable (Delivery) -> String?)? = nil

    /// Creates the live connector, with the instance's own timeout in its context.
    public func make(context: ConnectorContext) throws -> any Connector {
        var context = context
        context.timeout = policy.timeout
        context.logger[metadataKey: "connector.name"] = "\(name)"
        return SecretScrubbingConnector.wrap(ReplayMarkingConnector.wrap(try factory(context)), secrets: secrets)
    }
}

/// Loads `connectors/*.yaml`. A file holds one instance (a mapping with `name` and `type`) or
/// several under `connectors:`. Every problem in every file is reported, located.
public enum ConnectorLoader {
    public static func load(directory: String, environment: [String: String]) throws(Diagnostics) -> [ConnectorDefinition] {
        let report = loadReport(directory: directory, environment: environment)
        if !report.problems.isEmpty { throw Diagnostics(report.problems) }
        return report.connectors
    }

    /// What one load of a directory found: the valid instances, every problem, and the names of
    /// the instances left out for their errors (a route naming one is not told it does not exist).
    public struct Report: Sendable {
        public var connectors: [ConnectorDefinition] = []
        public var problems: [Diagnostic] = []
        public var namesWithErrors: Set<String> = []
        /// A file could not be read or parsed whole: its instances' names are unknown.
        public var unreadFile = false
    }

    /// Loads every file and keeps the valid instances beside the problems, so `validate` checks
    /// those (their templates' warnings included) in the same pass.
    public static func loadReport(directory: String, environment: [String: String]) -> Report {
        var report = Report()
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory)
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        } catch {
            report.problems = [Diagnostic(path: directory, message: "cannot read connectors directory: \(error.localizedDescription)")]
            report.unreadFile = true
            return report
        }
        for file in files {
            let path = (directory as NSString).appendingPathComponent(file)
            let one = loadReport(path: path, environment: environment)
            report.connectors += one.connectors
            report.problems += one.problems
            report.namesWithErrors.formUnion(one.namesWithErrors)
            report.unreadFile = report.unreadFile || one.unreadFile
        }
        let all = report.connectors
        var problems: [Diagnostic] = []
        var seen: [String: Diagnostic] = [:]
        for c in all {
            if let first = seen[c.name] {
                var d = c.location
                d.message = "duplicate connector name '\(c.name)' (first defined at \(first.path):\(first.line))"
                problems.append(d)
            } else {
                seen[c.name] = c.location
            }
        }
        report.problems += problems
        return report
    }

    public static func load(path: String, environment: [String: String]) throws(Diagnostics) -> [ConnectorDefinition] {
        let report = loadReport(path: path, environment: environment)
        if !report.problems.isEmpty { throw Diagnostics(report.problems) }
        return report.connectors
    }

    static func loadReport(path: String, environment: [String: String]) -> Report {
        var report = Report()
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            report.problems = [Diagnostic(path: path, message: "cannot read file: \(error.localizedDescription)")]
            report.unreadFile = true
            return report
        }
        let text: String
        do { text = try YAMLNode.text(of: data, path: path) } catch {
            report.problems = error.items
            report.unreadFile = true
            return report
        }
        let loaded: YAMLNode?
        do { loaded = try YAMLNode.load(path: path, text: text, environment: environment) } catch {
            report.problems = error.items
            report.unreadFile = true
            return report
        }
        guard let doc = loaded else { return report }
        let nodes: [YAMLNode]
        if let list = doc["connectors"], doc.entries.count == 1 {
            guard list.isSequence else {
                report.problems = [list.error("'connectors' must be a list of connector instances")]
                report.unreadFile = true
                return report
            }
            nodes = list.items
        } else {
            nodes = [doc]
        }
        for node in nodes {
            let (definition, diags) = definition(from: node)
            if let definition { report.connectors.append(definition) }
            if !diags.isEmpty, let name = node["name"]?.string { report.namesWithErrors.insert(name) }
            report.problems += diags
        }
        return report
    }

    /// OCSF versions `format: ocsf` can write: those whose Detection Finding attributes used
    /// here are unchanged (docs/formats.md §10).
    public static let ocsfVersions = ["1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0", "1.6.0", "1.7.0", "1.8.0"]

    /// `format: ocsf` and `ocsf_version:` of kafka, webhook and aws-* instances (syslog has a
    /// `format` of its own).
    static func ocsfOutput(kind: String, _ r: MappingReader) -> String? {
        guard kind == "kafka" || kind == "webhook" || kind.hasPrefix("aws-") else { return nil }
        let version = r.string("ocsf_version")
        guard let format = r.string("format") else {
            if version != nil { r.report(r.node("ocsf_version")!.error("'ocsf_version' needs 'format: ocsf'")) }
            return nil
        }
        guard format == "ocsf", kind != "aws-securityhub" else {
            r.report(r.node("format")!.error(kind == "aws-securityhub" ? "aws-securityhub imports ASFF; 'format' is not supported"
                                                                            : "'format' must be ocsf (or absent: the finding as it came)"))
            return nil
        }
        if let version, !ocsfVersions.contains(version) {
            r.report(r.node("ocsf_version")!.error("'ocsf_version' must be one of: \(ocsfVersions.joined(separator: ", "))"))
        }
        return version ?? ocsfVersions[0]
    }

    /// One instance: its definition when valid, and every problem found.
    static func definition(from node: YAMLNode) -> (ConnectorDefinition?, [Diagnostic]) {
        let r = MappingReader(node, what: "a connector instance")
        let name = r.string("name", required: true)
        let kind = r.string("type", required: true)
        if let name, name.isEmpty || name.contains(where: { $0.isWhitespace }) {
            r.report(r.at("name").error("connector name must be non-empty, without spaces"))
        }
        var definition: ConnectorDefinition?
        if let kind {
            if let type = ConnectorRegistry.type(named: kind) {
                let policy = DeliveryPolicy.read(r, supportsBatching: type.supportsBatching, defaultConcurrency: type.defaultConcurrency)
                var template: PayloadTemplate?
                if let source = r.string("template") ?? type.defaultTemplate {
                    do {
                        template = try PayloadTemplate(source, format: type.instanceTemplateFormat(r))
                        if type.payloadFormat == .json, let t = template, let issue = TemplateCheck.jsonIssue(t, sample: TemplateSamples.guardDuty) {
                            r.report((node["template"] ?? node).error(issue))
                        }
                    } catch {
                        r.report((node["template"] ?? node).error(r.node["template"] == nil ? "built-in template of '\(kind)': \(error.message)" : error.message))
                    }
                }
                let shared = r.knownKeys
                definition = type.prepare(name ?? "", r, policy, template, node.error(""))
                // Read even when the type's own keys were invalid, so `format:` is never "unknown".
                let ocsfVersion = Self.ocsfOutput(kind: kind, r)
                definition?.ocsfVersion = ocsfVersion
                // The type's own keys first: they are the ones a typo is most likely in.
                r.describeUnknownKeys(as: "\("aeiou".contains(kind.prefix(1)) ? "an" : "a") \(kind) connector", leading: r.knownKeys.filter { !shared.contains($0) })
                definition?.templateLocation = node.entries.first { $0.0 == "template" }.map { $0.1.error("") }
            } else {
                let known = ConnectorRegistry.types.map(\.kind).joined(separator: ", ")
                r.report(r.at("type").error("unknown connector type '\(kind)' (known: \(known))"))
                // Report this instance's other keys only once its type is known.
                for (key, _, _) in node.entries { r.allow(key) }
            }
        }
        let diags = r.finish()
        return (diags.isEmpty && name != nil ? definition : nil, diags)
    }
}
