import ArgumentParser
import Foundation
import SluiceCore
import SluiceRuntime
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
            """)

    @Option(name: .long, help: ArgumentHelp("JSON file holding the event (a finding in its EventBridge envelope); - for stdin.", valueName: "file"))
    var event: String

    @Option(name: .long, help: ArgumentHelp("Directory of route files.", valueName: "dir"))
    var routes: String = "routes"

    @Option(name: .long, help: ArgumentHelp("Directory of connector files (targets are listed by connector name).", valueName: "dir"))
    var connectors: String = "connectors"

    @Flag(name: .long, help: "Print machine-readable JSON.")
    var json = false

    func run() async throws {
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
            ])
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
        if !connectorDirectoryExists && !explained.isEmpty {
            print("")
            print("note: no connectors directory at \(connectors); connector names were not checked (sluice validate checks them)")
        }
    }
}
