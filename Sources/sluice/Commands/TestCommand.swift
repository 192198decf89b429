import ArgumentParser
import Foundation
import SluiceCore
import SluiceFormats
import SluiceRuntime
import SluiceSuite

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

            A matching route's playbook is shown step by step: the `when` outcome (or, for a \
            condition on earlier steps, that it is decided when the step runs), the parameters \
            rendered (secrets redacted), the approval it would wait for, the target named by the \
            finding, what only the live target could tell (unresolved), and the guards that would \
            apply (actions.guards of --config, else the built-in defaults `sluice run` uses without \
            --config; the guards in force are listed first). Nothing is looked up or run.

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

    @OptionGroup var reading: EventReadingOptions

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
        // Decoded with the run configuration's limits and the topic's format, as `sluice run` would.
        let settings = try reading.settings()
        let bytes = try CLIFiles.readBytes(event, what: "event")
        let findings: [RouteTestReport.Decoded]
        switch RouteTestReport.decode(bytes, with: reading.decoder(settings)) {
        case .success(let events): findings = events
        case .failure(let rejection):
            CLIFiles.fail("invalid event: \(event) is rejected as \(rejection.reason) (\(rejection.detail))")
            throw ExitCode(1)
        }
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
        // A split record (Security Hub, BatchImportFindings) is one report per finding.
        var reports: [RouteTestReport] = []
        for finding in findings {
            let report = RouteTestReport(
                event: finding.event, eventText: finding.event.serialized(), original: finding.original, table: table, configuration: configuration, explain: explain,
                inhibitRules: (try? HoldRuleLoader.loadInhibitRules(directory: routes)) ?? [],
                connectorsNote: connectorDirectoryExists ? nil
                    : "note: no connectors directory at \(connectors); connector names were not checked (sluice validate checks them)",
                actions: settings.actions,
                // `run` reads no default file: without --config it runs with the built-in defaults too.
                guardsSource: reading.config.map { "actions.guards of \($0)" }
                    ?? "built-in defaults: no --config given, as `sluice run` without --config")
            if let disagreement = report.disagreement { CLIFiles.fail(disagreement) }
            reports.append(report)
        }
        if reports.count == 1 {
            print(json ? reports[0].json.serialized() : reports[0].text)
        } else if json {
            print(JSON.array(reports.map(\.json)).serialized())
        } else {
            print(reports.enumerated().map { "finding \($0.offset + 1) of \(reports.count):\n\($0.element.text)" }.joined(separator: "\n\n"))
        }
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
            // A split record: what each of its findings took.
            if o.routesTaken.count > 1 {
                for (i, routes) in o.routesTaken.enumerated() {
                    print("      finding \(i + 1) of \(o.routesTaken.count): \(routes.isEmpty ? "no route" : routes.joined(separator: ", "))")
                }
            }
        }
        let failed = outcomes.filter { !$0.passed }.count
        print("\(outcomes.count - failed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode(1) }
    }
}
