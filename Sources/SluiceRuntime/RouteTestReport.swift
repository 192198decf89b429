import Foundation
import SluiceActions
import SluiceCore
import SluiceState

/// What `sluice test` prints for one event — which routes match, on which fields, and what each
/// target would receive — as text and as JSON. Shared by the CLI and `POST /api/v1/test`.
public struct RouteTestReport: Sendable {
    public let json: JSON
    public let text: String
    /// Set when the fast and the reference matcher disagree (a bug to report).
    public let disagreement: String?

    /// `configuration`: with it, previews use each connector instance's own template, and a
    /// matching route's playbook is previewed step by step with `actions` (guards, dry run).
    /// `explain`: also say why each route that did not match did not (`sluice test --explain`).
    /// `original`: what a pass-through target receives (`Decoded.original`; nil: the event).
    /// `guardsSource`: where `actions` came from, shown beside the guards in force.
    public init(event eventJSON: JSON, eventText: String, original: String? = nil, table: RouteTable, configuration: LoadedConfiguration?,
                explain: Bool = false, inhibitRules: [InhibitRule] = [], connectorsNote: String?, actions: ActionSettings = ActionSettings(),
                guardsSource: String? = nil) {
        // The fast matcher answers; the reference explains. They agree (differential tests).
        let parser = JSONParser(maxBytes: max(eventText.utf8.count, 1 << 16), maxDepth: 1024)
        let fast = (try? parser.parse(eventText) { table.match($0.root) }.get()) ?? []
        let explained = table.explain(eventJSON)
        let suppressed = table.routes.indices.filter { i in
            ReferenceMatcher.matches(table.patterns[i], eventJSON)
                && table.suppressions[i].contains { ReferenceMatcher.matches($0, eventJSON) }
        }
        disagreement = fast == explained.map(\.route) ? nil
            : "warning: compiled and reference matchers disagree (\(fast) vs \(explained.map(\.route))); please report this event"
        func preview(_ route: Route, _ j: Int) -> String {
            configuration?.previewPayload(route: route.name, target: j, event: eventJSON, original: original)
                ?? TargetPreview.payload(for: route.targets[j], event: eventJSON, original: original)
        }

        var matches: [JSON] = []
        var lines: [String] = []
        lines.append("\(explained.count) of \(table.routes.count) route\(table.routes.count == 1 ? "" : "s") match\(explained.count == 1 ? "es" : "")")
        for m in explained {
            let route = table.routes[m.route]
            // Which state rule (dedupe, throttle, group, inhibit) would hold this event.
            let state = HoldExplanation.lines(route: route, inhibitRules: inhibitRules, event: eventJSON)
            let fields: [JSON] = m.fields.map { f in
                .object([(key: "path", value: .string(f.path)), (key: "value", value: f.value ?? .null), (key: "absent", value: .bool(f.value == nil))])
            }
            let targets: [JSON] = route.targets.enumerated().map { j, t in
                .object([(key: "connector", value: .string(t.connector)), (key: "payload", value: .string(preview(route, j)))])
            }
            let playbook = configuration?.playbooks[route.name].map { PlaybookPreview(playbook: $0, finding: eventJSON, settings: actions, guardsSource: guardsSource) }
            matches.append(.object([
                (key: "route", value: .string(route.name)),
                (key: "location", value: .string(route.location.description.replacingOccurrences(of: ": route '\(route.name)'", with: ""))),
                (key: "fields", value: .array(fields)),
                (key: "targets", value: .array(targets)),
                (key: "state", value: .array(state.map { .string($0) })),
            ] + (playbook.map { [(key: "playbook", value: $0.json)] } ?? [])))
            lines.append("")
            lines.append("route \(route.name)  (\(route.location.path):\(route.location.line))\(route.stop ? "  [stop]" : "")")
            if let d = route.description { lines.append("  \(d)") }
            lines.append("  matched on:")
            for f in m.fields {
                lines.append("    \(f.path) = \(f.value.map { $0.serialized() } ?? "(absent)")")
            }
            lines.append(route.targets.isEmpty ? "  targets: none" : "  targets:")
            for (j, t) in route.targets.enumerated() {
                lines.append("    → \(t.connector):")
                for line in preview(route, j).split(separator: "\n", omittingEmptySubsequences: false) {
                    lines.append("        \(line)")
                }
            }
            if !state.isEmpty {
                lines.append("  state rules (each target):")
                for line in state { lines.append("    \(line)") }
            }
            if let playbook { lines += playbook.lines.map { "  " + $0 } }
        }
        for i in suppressed {
            lines.append("")
            lines.append("route \(table.routes[i].name) matched but is suppressed")
        }
        let misses = explain ? table.explainMisses(eventJSON) : []
        for miss in misses {
            lines.append("")
            lines.append("route \(table.routes[miss.route].name) did not match:")
            for reason in miss.reasons { lines.append("  " + Self.describe(reason, table.routes[miss.route])) }
        }
        if let connectorsNote, !explained.isEmpty {
            lines.append("")
            lines.append(connectorsNote)
        }
        json = .object([
            (key: "routes", value: .number(Double(table.routes.count))),
            (key: "matches", value: .array(matches)),
            (key: "suppressed", value: .array(suppressed.map { .string(table.routes[$0].name) })),
        ] + (explain ? [(key: "misses", value: .array(misses.map { Self.missJSON($0, table) }))] : []))
        text = lines.joined(separator: "\n")
    }

    static func describe(_ reason: RouteMiss.Reason, _ route: Route) -> String {
        switch reason {
        case .condition(let path, let expected, let values):
            let had = values.isEmpty ? "the event has no \(path)" : "the event has \(path) = " + values.prefix(5).map { $0.serialized() }.joined(separator: ", ")
            return "\(path): wanted \(expected); \(had)"
        case .arrayElements(let paths):
            return "each condition holds, but not within one array element (\(paths.joined(separator: ", ")))"
        case .suppressed(let index):
            return "the pattern matched, but suppression \(index + 1) of \(route.suppress.count) matched too"
        case .stoppedBy(let name):
            return "the pattern matched, but route \(name) matched first with stop: true"
        }
    }

    static func missJSON(_ miss: RouteMiss, _ table: RouteTable) -> JSON {
        let route = table.routes[miss.route]
        return .object([
            (key: "route", value: .string(route.name)),
            (key: "reasons", value: .array(miss.reasons.map { .string(Self.describe($0, route)) })),
        ])
    }
}
