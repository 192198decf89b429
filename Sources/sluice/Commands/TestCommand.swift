import ArgumentParser
import Foundation
import SluiceCore
import SluiceRuntime
import SluiceSuite
import SluiceState

/// `sluice test`: which routes an event would take, and why — without sending anything.
struct TestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Show which routes match an event, which fields made them match, and what each target would receive.",
        discussion: """
            Nothing is sent. Routes are loaded and validated as `sluice run` would; a route whose \
            pattern matched but whose suppression also matched is listed as suppressed. Targets show \
            their rendered payload: the route's template or input transformer, else the connector \
            instance's template or its type's default (Slack blocks, a PagerDuty event…), else the \
            event itself.

            `--explain` adds, for each route that did not match, the first condition that failed \
            and the value the event had there. `--suite DIR` runs route tests instead: every \
            *.yaml file of DIR lists cases (an event, the routes and targets it must take, \
            fragments its payloads must contain); a mismatch prints a diff and exits 1.
            """)

    @Option(name: .long, help: ArgumentHelp("JSON file holding the event (a finding in its EventBridge envelope); - for stdin.", valueName: "file"))
    var event: String?

    @Option(name: .long, help: ArgumentHelp("Run the route test cases of this directory (see routes/tests/) instead of one event.", valueName: "dir"))
    var suite: String?

    @Flag(name: .long, help: "Also say why each route that did not match did not: its first failing condition and the event's value there.")
    var explain = false

    @Option(name: .long, help: ArgumentHelp("Directory of route files.", valueName: "dir"))
    var routes: String = "routes"

    @Option(name: .long, help: ArgumentHelp("Directory of connector files (targets are listed by connector name).", valueName: "dir"))
    var connectors: String = "connectors"

    @Flag(name: .long, help: "Print machine-readable JSON.")
    var json = false

    func validate() throws {
        if (event == nil) == (suite == nil) { throw ValidationError("give either --event FILE or --suite DIR") }
    }

    func run() async throws {
        if let suite { return try runSuite(suite) }
        guard let event else { throw ExitCode(2) }
        let loaded: [Route]
        do { loaded = try RouteLoader.load(directory: routes) } catch {
            for d in error.items { CLIFiles.fail(d.description) }
            throw ExitCode(1)
        }
        let table: RouteTable
        do { table = try RouteTable(routes: loaded) } catch {
            for d in error.items { CLIFiles.fail(d.description) }
            throw ExitCode(1)
        }
        let text = try CLIFiles.read(event, what: "event")
        let eventJSON: JSON
        do { eventJSON = try JSON.parse(text) } catch {
            CLIFiles.fail("invalid event: \(event) is not JSON (\(error.rawValue))")
            throw ExitCode(1)
        }
        // The fast matcher answers; the reference explains. They agree (differential tests).
        let parser = JSONParser(maxBytes: max(text.utf8.count, 1 << 16), maxDepth: 1024)
        let fast = (try? parser.parse(text) { table.match($0.root) }.get()) ?? []
        let explained = table.explain(eventJSON)
        let suppressed = table.routes.indices.filter { i in
            ReferenceMatcher.matches(table.patterns[i], eventJSON)
                && table.suppressions[i].contains { ReferenceMatcher.matches($0, eventJSON) }
        }
        if fast != explained.map(\.route) {
            CLIFiles.fail("warning: compiled and reference matchers disagree (\(fast) vs \(explained.map(\.route))); please report this event")
        }
        let inhibitRules = (try? HoldRuleLoader.loadInhibitRules(directory: routes)) ?? []
        let connectorDirectoryExists = FileManager.default.fileExists(atPath: connectors)
        // With connectors, previews use each connector's own template as `sluice run` would.
        var configuration: LoadedConfiguration?
        if connectorDirectoryExists {
            do {
                configuration = try LoadedConfiguration.load(routesDirectory: routes, connectorsDirectory: connectors,
                                                             environment: ProcessInfo.processInfo.environment)
            } catch {
                CLIFiles.fail("note: connectors not used for previews (sluice validate explains): \(error.items.first?.description ?? "")")
            }
        }
        func preview(_ route: Route, _ j: Int) -> String {
            configuration?.previewPayload(route: route.name, target: j, event: eventJSON)
                ?? TargetPreview.payload(for: route.targets[j], event: eventJSON)
        }

        if json {
            var matches: [JSON] = []
            for m in explained {
                let route = table.routes[m.route]
                let fields: [JSON] = m.fields.map { f in
                    .object([(key: "path", value: .string(f.path)), (key: "value", value: f.value ?? .null), (key: "absent", value: .bool(f.value == nil))])
                }
                let targets: [JSON] = route.targets.enumerated().map { j, t in
                    .object([(key: "connector", value: .string(t.connector)), (key: "payload", value: .string(preview(route, j)))])
                }
                matches.append(.object([
                    (key: "route", value: .string(route.name)),
                    (key: "location", value: .string(route.location.description.replacingOccurrences(of: ": route '\(route.name)'", with: ""))),
                    (key: "fields", value: .array(fields)),
                    (key: "targets", value: .array(targets)),
                    (key: "state", value: .array(HoldExplanation.lines(route: route, inhibitRules: inhibitRules, event: eventJSON).map { .string($0) })),
                ]))
            }
            let out: JSON = .object([
                (key: "routes", value: .number(Double(table.routes.count))),
                (key: "matches", value: .array(matches)),
                (key: "suppressed", value: .array(suppressed.map { .string(table.routes[$0].name) })),
            ] + (explain ? [(key: "misses", value: .array(table.explainMisses(eventJSON).map { missJSON($0, table) }))] : []))
            print(out.serialized())
            return
        }
        print("\(explained.count) of \(table.routes.count) route\(table.routes.count == 1 ? "" : "s") match\(explained.count == 1 ? "es" : "")")
        for m in explained {
            let route = table.routes[m.route]
            print("")
            print("route \(route.name)  (\(route.location.path):\(route.location.line))\(route.stop ? "  [stop]" : "")")
            if let d = route.description { print("  \(d)") }
            print("  matched on:")
            for f in m.fields {
                print("    \(f.path) = \(f.value.map { $0.serialized() } ?? "(absent)")")
            }
            let state = HoldExplanation.lines(route: route, inhibitRules: inhibitRules, event: eventJSON)
            if !state.isEmpty {
                print("  state rules (each target):")
                for line in state { print("    \(line)") }
            }
            print("  targets:")
            for (j, t) in route.targets.enumerated() {
                print("    → \(t.connector):")
                for line in preview(route, j).split(separator: "\n", omittingEmptySubsequences: false) {
                    print("        \(line)")
                }
            }
        }
        for i in suppressed {
            print("")
            print("route \(table.routes[i].name) matched but is suppressed")
        }
        if explain {
            for miss in table.explainMisses(eventJSON) {
                print("")
                print("route \(table.routes[miss.route].name) did not match:")
                for reason in miss.reasons { print("  " + Self.describe(reason, table.routes[miss.route])) }
            }
        }
        if !connectorDirectoryExists && !explained.isEmpty {
            print("")
            print("note: no connectors directory at \(connectors); connector names were not checked (sluice validate checks them)")
        }
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

    func missJSON(_ miss: RouteMiss, _ table: RouteTable) -> JSON {
        let route = table.routes[miss.route]
        return .object([
            (key: "route", value: .string(route.name)),
            (key: "reasons", value: .array(miss.reasons.map { .string(Self.describe($0, route)) })),
        ])
    }

    /// `--suite DIR`: every case, a diff per failure; exit 1 when any failed.
    func runSuite(_ directory: String) throws {
        let configuration: LoadedConfiguration
        do {
            configuration = try LoadedConfiguration.load(routesDirectory: routes, connectorsDirectory: connectors,
                                                         environment: ProcessInfo.processInfo.environment)
        } catch {
            for d in error.items { CLIFiles.fail(d.description) }
            throw ExitCode(1)
        }
        let cases: [RouteSuite.Case]
        do { cases = try RouteSuite.load(directory: directory) } catch {
            for d in error.items { CLIFiles.fail(d.description) }
            throw ExitCode(1)
        }
        let outcomes = RouteSuite.run(cases, configuration: configuration)
        for o in outcomes {
            if o.passed {
                print("ok    \(o.name)")
            } else {
                print("FAIL  \(o.name)  (\(o.location.path):\(o.location.line))")
                for line in o.diff { print("      \(line)") }
            }
        }
        let failed = outcomes.filter { !$0.passed }.count
        print("\(outcomes.count - failed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode(1) }
    }
}
