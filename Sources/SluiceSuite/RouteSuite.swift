import Foundation
import SluiceCore
import SluiceRuntime

/// Route tests for CI (`sluice test --suite DIR`): files of cases, each an event and the routes
/// and targets it must take, optionally with fragments its payloads must contain. Like
/// `vector test` (inputs + conditions on outputs) and amtool's `--verify.receivers` (an alert's
/// labels and the receivers it must reach), but over the real routes and connector templates.
///
/// ```yaml
/// # routes/tests/eks.yaml: every *.yaml / *.yml file of the directory
/// cases:
///   - name: EKS crypto-mining reaches the platform team
///     event: ../../examples/findings/03-eks-container-mining.json   # a file, relative to this one
///     routes: [archive-all-findings, containers-to-platform]        # exactly these (any order)
///     targets: [findings-archive, platform-webhook]                 # optional: exactly these connectors
///     payloads:                                                     # optional
///       - connector: platform-webhook
///         contains: ["CryptoCurrency:Runtime/BitcoinTool.B"]
///   - name: an inline event matches nothing
///     event: {"source": "aws.s3", "detail": {}}
///     routes: []
///   - name: a Security Hub event with two findings, judged one by one
///     event: ../../examples/findings/asff/04-custom-action-two-findings.json
///     parts:                                                        # one entry per finding, in order
///       - routes: [securityhub-medium]
///       - routes: []
/// ```
///
/// A record that holds several findings (docs/formats.md §7) is judged finding by finding, as
/// `sluice run` delivers it: against `parts` when the case has them, else each finding against
/// the case's own `routes`/`targets`/`payloads`. Diff lines then say which finding they are about.
public enum RouteSuite {
    /// One case as written.
    public struct Case: Sendable {
        public var name: String
        public var location: Diagnostic
        public var event: JSON
        public var routes: [String]
        public var targets: [String]?
        public var payloads: [(connector: String, route: String?, contains: [String])]
        /// Per-finding expectations of a split record (`parts:`); nil: the case's own for each.
        public var parts: [Expectation]?
    }

    /// What one finding must take.
    public struct Expectation: Sendable {
        public var routes: [String]
        public var targets: [String]?
        public var payloads: [(connector: String, route: String?, contains: [String])]
    }

    /// The outcome of one case: empty `diff` when it passed.
    public struct Outcome: Sendable {
        public var name: String
        public var location: Diagnostic
        /// Lines in the style of a diff: `- expected but missing`, `+ present but not expected`.
        public var diff: [String]
        /// The routes each finding of the event took, in record order (one entry unless split).
        public var routesTaken: [[String]] = []
        public var passed: Bool { diff.isEmpty }
    }

    static let caseKeys: Set<String> = ["name", "event", "routes", "targets", "payloads", "parts"]
    static let partKeys: Set<String> = ["routes", "targets", "payloads"]
    static let payloadKeys: Set<String> = ["connector", "route", "contains"]

    /// Reads every case file of `directory`; every problem is reported with its location.
    public static func load(directory: String) throws(Diagnostics) -> [Case] {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else {
            throw Diagnostics([Diagnostic(path: directory, message: "route test directory not found")])
        }
        var cases: [Case] = []
        var problems: [Diagnostic] = []
        for name in names.sorted() where name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let data = fm.contents(atPath: path) else {
                problems.append(Diagnostic(path: path, message: "cannot read file"))
                continue
            }
            do {
                guard let root = try YAMLNode.load(path: path, text: try YAMLNode.text(of: data, path: path), environment: [:]) else { continue }
                let list = root["cases"]
                guard root.isMapping, let list, list.isSequence else {
                    problems.append(root.error("a route test file is a mapping with `cases:`, a list of cases"))
                    continue
                }
                for entry in root.entries where entry.key != "cases" {
                    problems.append(entry.keyNode.error(RouteKeys.unknownKeyMessage(entry.key, kind: "route test file", known: ["cases"])))
                }
                for item in list.items {
                    switch readCase(item, directory: (path as NSString).deletingLastPathComponent) {
                    case .success(let c): cases.append(c)
                    case .failure(let d): problems += d.items
                    }
                }
            } catch { problems += error.items }
        }
        if cases.isEmpty && problems.isEmpty {
            problems.append(Diagnostic(path: directory, message: "no route test cases (*.yaml files with `cases:`)"))
        }
        if !problems.isEmpty { throw Diagnostics(problems) }
        return cases
    }

    static func readCase(_ node: YAMLNode, directory: String) -> Result<Case, Diagnostics> {
        var problems: [Diagnostic] = []
        guard node.isMapping else { return .failure(Diagnostics([node.error("a case is a mapping with name, event and routes")])) }
        for entry in node.entries where !caseKeys.contains(entry.key) {
            problems.append(entry.keyNode.error(RouteKeys.unknownKeyMessage(entry.key, kind: "case", known: caseKeys)))
        }
        let name = node["name"]?.string ?? ""
        if name.isEmpty { problems.append(node.error("a case needs a `name`")) }
        var event = JSON.null
        if let e = node["event"] {
            if e.isMapping {
                event = e.json()
            } else if let file = e.string, !e.isSequence {
                let path = file.hasPrefix("/") ? file : (directory as NSString).appendingPathComponent(file)
                if let data = FileManager.default.contents(atPath: path) {
                    do { event = try JSON.parse(String(decoding: data, as: UTF8.self)) } catch {
                        problems.append(e.error("event file \(file) is not JSON (\(error.rawValue))"))
                    }
                } else {
                    problems.append(e.error("cannot read event file \(file) (paths are relative to the case file)"))
                }
            } else {
                problems.append(e.error("`event` is an event (a mapping) or the path of a JSON file"))
            }
        } else {
            problems.append(node.error("case '\(name)': a case needs an `event`"))
        }
        var parts: [Expectation]?
        if let list = node["parts"] {
            if !list.isSequence || list.items.isEmpty { problems.append(list.error("`parts` must be a list of expectations, one per finding")) }
            parts = list.items.map { item in
                for entry in item.entries where !partKeys.contains(entry.key) {
                    problems.append(entry.keyNode.error(RouteKeys.unknownKeyMessage(entry.key, kind: "part", known: partKeys)))
                }
                let e = readExpectation(item, problems: &problems)
                if e.routes == nil { problems.append(item.error("a part needs `routes` (the expected routes; [] for none)")) }
                return Expectation(routes: e.routes ?? [], targets: e.targets, payloads: e.payloads)
            }
            for key in ["routes", "targets", "payloads"] {
                if let misplaced = node[key] { problems.append(misplaced.error("`\(key)` goes under each of `parts` when the case has parts")) }
            }
        }
        let own = readExpectation(node, problems: &problems)
        if own.routes == nil && parts == nil {
            problems.append(node.error("case '\(name)': a case needs `routes` (the expected routes; [] for none)"))
        }
        if !problems.isEmpty { return .failure(Diagnostics(problems)) }
        return .success(Case(name: name, location: node.error("case '\(name)'"), event: event, routes: own.routes ?? [],
                             targets: own.targets, payloads: own.payloads, parts: parts))
    }

    /// `routes`, `targets` and `payloads` of a case or of one of its parts.
    static func readExpectation(_ node: YAMLNode, problems: inout [Diagnostic])
        -> (routes: [String]?, targets: [String]?, payloads: [(connector: String, route: String?, contains: [String])]) {
        func names(_ key: String) -> [String]? {
            guard let n = node[key] else { return nil }
            let list = n.items.compactMap(\.string)
            if !n.isSequence || list.count != n.items.count {
                problems.append(n.error("`\(key)` must be a list of names ([] for none)"))
            }
            return list
        }
        var payloads: [(connector: String, route: String?, contains: [String])] = []
        if let p = node["payloads"] {
            for item in p.items {
                for entry in item.entries where !payloadKeys.contains(entry.key) {
                    problems.append(entry.keyNode.error(RouteKeys.unknownKeyMessage(entry.key, kind: "payload", known: payloadKeys)))
                }
                guard let connector = item["connector"]?.string, let contains = item["contains"], contains.isSequence else {
                    problems.append(item.error("a payload expectation needs `connector` and `contains` (a list of fragments)"))
                    continue
                }
                payloads.append((connector, item["route"]?.string, contains.items.compactMap(\.string)))
            }
            if !p.isSequence { problems.append(p.error("`payloads` must be a list")) }
        }
        return (names("routes"), names("targets"), payloads)
    }

    /// Runs every case against the loaded routes and connectors.
    public static func run(_ cases: [Case], configuration: LoadedConfiguration) -> [Outcome] {
        cases.map { run($0, configuration: configuration) }
    }

    public static func run(_ c: Case, configuration: LoadedConfiguration) -> Outcome {
        // The same decode-and-normalise as `sluice run` (bare findings wrapped, the `sluice` view,
        // a split record one event per finding).
        let decoded = (try? RouteTestReport.decode(Array(c.event.serialized().utf8)).get()) ?? []
        let events = decoded.isEmpty ? [RouteTestReport.Decoded(event: c.event, original: c.event.serialized())] : decoded
        var outcome = Outcome(name: c.name, location: c.location, diff: [])
        if let parts = c.parts, parts.count != events.count {
            outcome.diff.append("- \(parts.count) finding\(parts.count == 1 ? "" : "s") (parts)")
            outcome.diff.append("+ \(events.count) finding\(events.count == 1 ? "" : "s") in the event")
        }
        for (i, event) in events.enumerated() {
            let own = Expectation(routes: c.routes, targets: c.targets, payloads: c.payloads)
            let expected = c.parts.map { i < $0.count ? $0[i] : nil } ?? own
            let (taken, diff) = judge(event.event, original: event.original, expected, configuration: configuration)
            outcome.routesTaken.append(taken)
            let label = events.count > 1 ? "finding \(i + 1) of \(events.count): " : ""
            outcome.diff += diff.map { label + $0 }
        }
        return outcome
    }

    /// The routes one finding took and its diff against `expected` (nil: a finding beyond the
    /// case's parts, reported with the routes it took).
    static func judge(_ event: JSON, original: String, _ expected: Expectation?, configuration: LoadedConfiguration) -> (routes: [String], diff: [String]) {
        let table = configuration.table
        let reference = table.referenceMatch(event)
        let matched = reference.map { table.routes[$0] }
        var diff: [String] = []
        // `sluice run` uses the compiled matcher: the case holds only if it agrees.
        let text = event.serialized()
        let parser = JSONParser(maxBytes: max(text.utf8.count, 1 << 16), maxDepth: 1024)
        if let compiled = try? parser.parse(text, { table.match($0.root) }).get(), compiled != reference {
            diff.append("! the compiled matcher took \(compiled.map { table.routes[$0].name }), the reference \(matched.map(\.name)): please report this event")
        }
        let got = matched.map(\.name)
        guard let c = expected else { return (got, diff + ["+ a finding no part describes, taking \(got.isEmpty ? "no route" : got.joined(separator: ", "))"]) }
        for r in c.routes where !got.contains(r) { diff.append("- route \(r)") }
        for r in got where !c.routes.contains(r) { diff.append("+ route \(r)") }
        if let expected = c.targets {
            let gotTargets = Set(matched.flatMap { $0.targets.map(\.connector) })
            for t in expected.sorted() where !gotTargets.contains(t) { diff.append("- target \(t)") }
            for t in gotTargets.sorted() where !expected.contains(t) { diff.append("+ target \(t)") }
        }
        for p in c.payloads {
            var rendered: [String] = []
            for route in matched where p.route == nil || p.route == route.name {
                for (j, target) in route.targets.enumerated() where target.connector == p.connector {
                    if let text = configuration.previewPayload(route: route.name, target: j, event: event, original: original) { rendered.append(text) }
                }
            }
            if rendered.isEmpty {
                diff.append("- payload for \(p.connector)\(p.route.map { " on route \($0)" } ?? ""): no matching route delivers to it")
                continue
            }
            for fragment in p.contains where !rendered.contains(where: { $0.contains(fragment) }) {
                let shown = rendered[0].count > 300 ? String(rendered[0].prefix(300)) + "…" : rendered[0]
                diff.append("- payload for \(p.connector) contains \(JSON.string(fragment).serialized())")
                diff.append("+ payload for \(p.connector) is \(shown)")
            }
        }
        return (got, diff)
    }
}
