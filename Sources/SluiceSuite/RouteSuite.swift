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
/// ```
public enum RouteSuite {
    /// One case as written.
    public struct Case: Sendable {
        public var name: String
        public var location: Diagnostic
        public var event: JSON
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
        public var passed: Bool { diff.isEmpty }
    }

    static let caseKeys: Set<String> = ["name", "event", "routes", "targets", "payloads"]
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
                guard let root = try YAMLNode.load(path: path, text: String(decoding: data, as: UTF8.self), environment: [:]) else { continue }
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
        func names(_ key: String) -> [String]? {
            guard let n = node[key] else { return nil }
            let list = n.items.compactMap(\.string)
            if !n.isSequence || list.count != n.items.count {
                problems.append(n.error("`\(key)` must be a list of names ([] for none)"))
            }
            return list
        }
        let routes = names("routes")
        if routes == nil { problems.append(node.error("case '\(name)': a case needs `routes` (the expected routes; [] for none)")) }
        let targets = names("targets")
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
        if !problems.isEmpty { return .failure(Diagnostics(problems)) }
        return .success(Case(name: name, location: node.error("case '\(name)'"), event: event, routes: routes ?? [],
                             targets: targets, payloads: payloads))
    }

    /// Runs every case against the loaded routes and connectors.
    public static func run(_ cases: [Case], configuration: LoadedConfiguration) -> [Outcome] {
        cases.map { run($0, configuration: configuration) }
    }

    public static func run(_ c: Case, configuration: LoadedConfiguration) -> Outcome {
        let table = configuration.table
        // The same decode-and-normalise as `sluice run` (bare findings wrapped, the `sluice` view);
        // a split record is judged on its first finding.
        let event = (try? RouteTestReport.decode(Array(c.event.serialized().utf8)).get())?.first ?? c.event
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
                    if let text = configuration.previewPayload(route: route.name, target: j, event: event) { rendered.append(text) }
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
        return Outcome(name: c.name, location: c.location, diff: diff)
    }
}
