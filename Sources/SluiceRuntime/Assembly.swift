import Foundation
import Logging
import SluiceActions
import SluiceConnectors
import SluiceCore

/// Routes and connector instances loaded and checked together: every route target names a
/// connector instance, and every template compiles for its connector's payload format.
/// `sluice validate` stops here; `sluice run` goes on to connect.
public struct LoadedConfiguration: Sendable {
    public let routes: [Route]
    public let table: RouteTable
    public let connectors: [ConnectorDefinition]
    /// The routes' playbooks by route name (see `PlaybookLoader`).
    public let playbooks: [String: Playbook]
    /// How `table.routes[i].targets[j]` renders its payload (nil: the finding's own bytes).
    let renderers: [[PayloadRenderer?]]

    /// Loads `routesDirectory` and `connectorsDirectory`, reporting every problem at once.
    public static func load(routesDirectory: String, connectorsDirectory: String, environment: [String: String]) throws(Diagnostics) -> LoadedConfiguration {
        var problems: [Diagnostic] = []
        var routes: [Route] = []
        var connectors: [ConnectorDefinition] = []
        do { routes = try RouteLoader.load(directory: routesDirectory, environment: environment) } catch { problems += error.items }
        do { connectors = try ConnectorLoader.load(directory: connectorsDirectory, environment: environment) } catch { problems += error.items }
        var table: RouteTable?
        do { table = try RouteTable(routes: routes) } catch { problems += error.items }
        var playbooks: [String: Playbook] = [:]
        do { playbooks = try PlaybookLoader.load(routes: routes) } catch { problems += error.items }
        let byName = Dictionary(connectors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var renderers: [[PayloadRenderer?]] = []
        for route in table?.routes ?? [] {
            var row: [PayloadRenderer?] = []
            for target in route.targets {
                var at = route.location
                guard let connector = byName[target.connector] else {
                    // Only complain when connectors loaded; otherwise the real error is above.
                    if problems.isEmpty || !connectors.isEmpty {
                        at.message = "route '\(route.name)': target '\(target.connector)' is not a connector instance (known: \(byName.keys.sorted().joined(separator: ", ")))"
                        problems.append(at)
                    }
                    row.append(nil)
                    continue
                }
                // The route's own template or input transformer wins over the connector's.
                guard let source = target.template else { row.append(connector.template.map { .template($0) }); continue }
                if let paths = target.inputPaths {
                    row.append(.inputTransformer(template: source, paths: paths))
                    continue
                }
                do {
                    row.append(.template(try PayloadTemplate(source, format: connector.templateFormat)))
                } catch {
                    at.message = "route '\(route.name)', target '\(target.connector)': \(error.message)"
                    problems.append(at)
                    row.append(nil)
                }
            }
            renderers.append(row)
        }
        if !problems.isEmpty { throw Diagnostics(problems) }
        return LoadedConfiguration(routes: routes, table: table!, connectors: connectors, playbooks: playbooks, renderers: renderers)
    }

    /// What target `target` of the route named `route` would receive for `event`: its rendered
    /// template (the route's, the instance's, or the connector type's default) or the event
    /// itself. nil when there is no such route or target. Used by `sluice test`.
    public func previewPayload(route: String, target: Int, event: JSON) -> String? {
        guard let i = table.routes.firstIndex(where: { $0.name == route }), target < renderers[i].count else { return nil }
        guard let renderer = renderers[i][target] else { return event.serialized() }
        return String(decoding: renderer.render(event, summary: FindingSummary(event: event)), as: UTF8.self)
    }
}
