import Foundation

/// Loads the route files of a directory (`routes/` by default): every `*.yaml` / `*.yml` / `*.json`,
/// in file-name order. A file holds one route (a mapping with `name`) or several (`routes:` list).
/// Every problem of every file is reported, each located at `path:line:column`; a route with
/// errors does not hide the others (their targets are still checked against the connectors).
public enum RouteLoader {
    /// Keys a route may have; anything else is an error (a typo must not silently do nothing).
    public static let routeKeys = Set(["name", "description", "match", "suppress", "targets", "enabled", "order", "stop", "playbook"])
        .union(HoldRules.routeKeys)
    public static let targetKeys: Set<String> = ["connector", "template", "input_paths"]

    /// The fields a trusted-IP list is checked against unless `fields` says otherwise: the
    /// remote-address fields of every registered finding model (GuardDuty's, from SluiceGuardDuty).
    public static var defaultTrustedIPFields: [String] {
        var seen: Set<String> = []
        return FindingFieldModels.current.flatMap(\.remoteAddressFields).filter { seen.insert($0).inserted }
    }

    /// File name endings loaded as route files (YAML is a superset of JSON).
    public static let routeFileExtensions = [".yaml", ".yml", ".json"]

    /// Loads and validates every route file in `directory` (patterns included; the complexity
    /// evaluator runs too). A missing directory is an error; an empty one yields no routes.
    /// Warnings are dropped: `loadReport` returns them.
    public static func load(directory: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(Diagnostics) -> [Route] {
        let report = loadReport(directory: directory, environment: environment)
        let errors = report.diagnostics.filter { !$0.isWarning }
        if !errors.isEmpty { throw Diagnostics(errors) }
        return report.routes
    }

    /// Every route that loaded without error, every error and warning of every file, and what
    /// could be read of the routes with errors (`rejected`: their targets can still be checked).
    public static func loadReport(directory: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> (routes: [Route], diagnostics: [Diagnostic], rejected: [Route]) {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            return ([], [Diagnostic(path: directory, message: "routes directory not found")], [])
        }
        let names: [String]
        do { names = try fm.contentsOfDirectory(atPath: directory) } catch {
            return ([], [Diagnostic(path: directory, message: "cannot list directory: \(error.localizedDescription)")], [])
        }
        var routes: [Route] = []
        var rejected: [Route] = []
        var problems: [Diagnostic] = []
        for name in names.sorted() where routeFileExtensions.contains(where: { name.hasSuffix($0) }) {
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            guard let data = fm.contents(atPath: path) else {
                problems.append(Diagnostic(path: path, message: "cannot read file"))
                continue
            }
            let text: String
            do { text = try YAMLNode.text(of: data, path: path) } catch {
                problems += error.items
                continue
            }
            let file = loadFile(path: path, text: text, environment: environment)
            routes += file.routes
            rejected += file.rejected
            problems += file.diagnostics
        }
        if routes.isEmpty && !problems.contains(where: { !$0.isWarning }) {
            problems.append(Diagnostic(path: directory, message: "no routes: the directory has no route files (\(routeFileExtensions.map { "*" + $0 }.joined(separator: ", "))), so nothing would be delivered", isWarning: true))
        }
        problems += duplicateNames(routes)
        do { _ = try RouteTable(routes: routes) } catch { problems += error.items }
        return (routes, problems, rejected)
    }

    static func duplicateNames(_ routes: [Route]) -> [Diagnostic] {
        var seen: [String: Diagnostic] = [:]
        var problems: [Diagnostic] = []
        for route in routes {
            if let first = seen[route.name] {
                var d = route.location
                d.message = "duplicate route name '\(route.name)' (first defined at \(first.path):\(first.line):\(first.column))"
                problems.append(d)
            } else {
                seen[route.name] = route.location
            }
        }
        return problems
    }

    /// Loads the routes of one file's text; throws its errors (warnings are dropped).
    public static func load(path: String, text: String, environment: [String: String]) throws(Diagnostics) -> [Route] {
        let file = loadFile(path: path, text: text, environment: environment)
        let errors = file.diagnostics.filter { !$0.isWarning }
        if !errors.isEmpty { throw Diagnostics(errors) }
        return file.routes
    }

    /// The routes of one file that loaded without error, and the file's errors and warnings.
    /// `rejected`: what could be read of the routes that have errors.
    public static func loadFile(path: String, text: String, environment: [String: String]) -> (routes: [Route], diagnostics: [Diagnostic], rejected: [Route]) {
        let root: YAMLNode
        do {
            guard let loaded = try YAMLNode.load(path: path, text: text, environment: environment) else { return ([], [], []) }
            root = loaded
        } catch { return ([], error.items, []) }
        guard root.isMapping else { return ([], [root.error("a route file must be a mapping: one route, or `routes:` with a list of routes")], []) }
        var problems: [Diagnostic] = []
        var rejected: [Route] = []
        var routes: [Route] = []
        let directory = (path as NSString).deletingLastPathComponent
        if let list = root["routes"] {
            for entry in root.entries where entry.key != "routes" && entry.key != "inhibit" {
                problems.append(entry.keyNode.error("unknown key '\(entry.key)' beside `routes:` (a file holds one route, or only a `routes:` list)"))
            }
            guard list.isSequence else {
                return ([], problems + [list.error("`routes` must be a list of routes")], [])
            }
            for item in list.items {
                do { routes.append(try route(item, directory: directory, warnings: &problems, rejected: &rejected)) } catch { problems += error.items }
            }
        } else if root["inhibit"] == nil || root["name"] != nil {
            do { routes.append(try route(root, directory: directory, topLevel: true, warnings: &problems, rejected: &rejected)) } catch { problems += error.items }
        }
        problems += HoldRuleLoader.inhibitRules(of: root).1
        return (routes, problems, rejected)
    }

    /// One route; when it has errors, what could be read of it goes to `rejected` (its targets
    /// and templates are still checked) and its errors are thrown. `topLevel`: a file holding one
    /// route may also hold the file's `inhibit:` rules beside it.
    static func route(_ node: YAMLNode, directory: String, topLevel: Bool = false, warnings: inout [Diagnostic], rejected: inout [Route]) throws(Diagnostics) -> Route {
        guard node.isMapping else { throw Diagnostics([node.error("a route must be a mapping")]) }
        var problems: [Diagnostic] = []
        for entry in node.entries where !routeKeys.contains(entry.key) && !(topLevel && entry.key == "inhibit") {
            problems.append(entry.keyNode.error(RouteKeys.unknownKeyMessage(entry.key, kind: "route", known: routeKeys)))
        }
        var name = ""
        if let n = node["name"], let s = n.string, !s.isEmpty, !n.isMapping, !n.isSequence {
            name = s
        } else {
            problems.append((node["name"] ?? node).error("a route needs a non-empty `name`"))
        }
        let label = name.isEmpty ? "route" : "route '\(name)'"
        var description: String?
        if let d = node["description"] {
            if let s = d.string { description = s } else { problems.append(d.error("\(label): `description` must be a string")) }
        }
        var match = JSON.null
        if let m = node["match"] {
            switch patternJSON(m) {
            case .success(let json):
                match = json
                do { _ = try Pattern(json: json) } catch {
                    problems += PatternLocator.diagnostics(m, label: "\(label): match", whole: error)
                }
                warnings += FindingFieldRouteLint.warnings(m, label: "\(label): match")
                warnings += SluiceViewRouteLint.warnings(m, label: "\(label): match")
            case .failure(let d): problems.append(d)
            }
        } else {
            problems.append(node.error("\(label): a route needs a `match` pattern"))
        }
        var suppress: [JSON] = []
        if let s = node["suppress"] {
            let items = s.isSequence ? s.items : [s]
            for item in items {
                if item.isMapping, let trusted = item["trusted_ips"] {
                    switch trustedIPPattern(item, file: trusted, directory: directory, label: label) {
                    case .success(let json): suppress.append(json)
                    case .failure(let d): problems.append(d)
                    }
                    continue
                }
                switch patternJSON(item) {
                case .success(let json):
                    do {
                        _ = try Pattern(json: json)
                        suppress.append(json)
                    } catch { problems += PatternLocator.diagnostics(item, label: "\(label): suppress", whole: error) }
                    warnings += SluiceViewRouteLint.warnings(item, label: "\(label): suppress")
                case .failure(let d): problems.append(d)
                }
            }
        }
        var targets: [RouteTarget] = []
        if let t = node["targets"], t.isSequence, !t.items.isEmpty {
            for item in t.items {
                if let s = item.string, !item.isMapping {
                    targets.append(RouteTarget(connector: s, location: item.error("")))
                    continue
                }
                guard item.isMapping else {
                    problems.append(item.error("\(label): a target is a connector name or a mapping with `connector`"))
                    continue
                }
                for entry in item.entries where !targetKeys.contains(entry.key) {
                    problems.append(entry.keyNode.error("\(label): " + RouteKeys.unknownKeyMessage(entry.key, kind: "target", known: targetKeys)))
                }
                guard let connector = item["connector"]?.string, !connector.isEmpty else {
                    problems.append(item.error("\(label): a target needs a `connector` name"))
                    continue
                }
                var template: String?
                if let tp = item["template"] {
                    if tp.isMapping || tp.isSequence {
                        // A structured template is written as JSON text.
                        template = tp.json().serialized()
                    } else {
                        template = tp.string
                    }
                }
                var inputPaths: [String: String]?
                if let ip = item["input_paths"] {
                    guard ip.isMapping else {
                        problems.append(ip.error("\(label): `input_paths` must map names to JSON paths ($.detail.type)"))
                        continue
                    }
                    var paths: [String: String] = [:]
                    for entry in ip.entries {
                        guard let p = entry.value.string, p.hasPrefix("$") else {
                            problems.append(entry.value.error("\(label): input path '\(entry.key)' must be a JSON path starting with $"))
                            continue
                        }
                        paths[entry.key] = p
                    }
                    inputPaths = paths
                    if template == nil { problems.append(ip.error("\(label): `input_paths` needs a `template`")) }
                }
                targets.append(RouteTarget(connector: connector, template: template, inputPaths: inputPaths,
                                           location: (item["connector"] ?? item).error("")))
            }
        } else if node["playbook"] == nil || node["targets"] != nil {
            problems.append((node["targets"] ?? node).error("\(label): a route needs a non-empty `targets` list (or a `playbook`)"))
        }
        var enabled = true
        if let e = node["enabled"] {
            if case .bool(let b) = e.json() { enabled = b } else { problems.append(e.error("\(label): `enabled` must be true or false")) }
        }
        var stop = false
        if let s = node["stop"] {
            if case .bool(let b) = s.json() { stop = b } else { problems.append(s.error("\(label): `stop` must be true or false")) }
        }
        var order: Int?
        if let o = node["order"] {
            if case .number(let d, _) = o.json(), d.rounded() == d, abs(d) < 1e9 { order = Int(d) } else {
                problems.append(o.error("\(label): `order` must be an integer"))
            }
        }
        let (hold, holdProblems) = HoldRuleLoader.rules(of: node, label: label)
        problems += holdProblems
        var route = Route(
            name: name, description: description, match: match, suppress: suppress, targets: targets,
            enabled: enabled, order: order, stop: stop, location: node.error("route '\(name)'"), playbook: node["playbook"])
        route.hold = hold
        if !problems.isEmpty {
            rejected.append(route)
            throw Diagnostics(problems)
        }
        return route
    }

    /// A pattern written as YAML (or JSON flow style), or as a string holding JSON.
    static func patternJSON(_ node: YAMLNode) -> Result<JSON, Diagnostic> {
        if node.isMapping { return .success(node.json()) }
        if let s = node.string, !node.isSequence {
            do { return .success(try JSON.parse(s)) } catch {
                return .failure(node.error("pattern string is not valid JSON (\(error.rawValue))"))
            }
        }
        return .failure(node.error("a pattern must be a mapping (an EventBridge event pattern)"))
    }

    /// `{trusted_ips: FILE, fields: [...]}`: a pattern matching findings whose remote IP is in the
    /// file (one address or CIDR per line, `#` comments), relative to the route file.
    static func trustedIPPattern(_ node: YAMLNode, file: YAMLNode, directory: String, label: String) -> Result<JSON, Diagnostic> {
        for entry in node.entries where entry.key != "trusted_ips" && entry.key != "fields" {
            return .failure(entry.keyNode.error("\(label): unknown key '\(entry.key)' in a trusted_ips suppression (expected trusted_ips, fields)"))
        }
        guard let name = file.string, !name.isEmpty else { return .failure(file.error("\(label): `trusted_ips` must be a file name")) }
        let path = name.hasPrefix("/") ? name : (directory.isEmpty ? name : directory + "/" + name)
        var fields = defaultTrustedIPFields
        if let f = node["fields"] {
            let list = f.items.compactMap(\.string)
            guard f.isSequence, !list.isEmpty, list.count == f.items.count else {
                return .failure(f.error("\(label): `fields` must be a list of dotted field paths"))
            }
            fields = list
        }
        guard !fields.isEmpty else {
            return .failure(node.error("\(label): a trusted_ips suppression needs `fields:` here: no finding model this process registered names remote-address fields"))
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            return .failure(file.error("\(label): cannot read trusted-IP list \(path)"))
        }
        switch TrustedIPList.parse(String(decoding: data, as: UTF8.self)) {
        case .failure(let e): return .failure(Diagnostic(path: path, line: e.line, column: 1, message: e.message))
        case .success(let entries):
            guard !entries.isEmpty else { return .failure(file.error("\(label): trusted-IP list \(path) is empty")) }
            return .success(TrustedIPList.pattern(cidrs: entries, fields: fields))
        }
    }
}

/// A trusted-IP list: one IPv4/IPv6 address or CIDR per line; blank lines and `#` comments ignored.
public enum TrustedIPList {
    public struct Failure: Error, Sendable {
        public var line: Int
        public var message: String
    }

    public static func parse(_ text: String) -> Result<[String], Failure> {
        var out: [String] = []
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0].trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            do { _ = try IPRange(cidr: line) } catch { return .failure(Failure(line: n + 1, message: error.message)) }
            out.append(line)
        }
        return .success(out)
    }

    /// An EventBridge pattern: any of `fields` is in any of the CIDRs.
    public static func pattern(cidrs: [String], fields: [String]) -> JSON {
        let values = JSON.array(cidrs.map { .object([(key: "cidr", value: .string($0))]) })
        func nest(_ path: String) -> JSON {
            var value = values
            for part in path.split(separator: ".").reversed() { value = .object([(key: String(part), value: value)]) }
            return value
        }
        if fields.count == 1 { return nest(fields[0]) }
        return .object([(key: "$or", value: .array(fields.map(nest)))])
    }
}
