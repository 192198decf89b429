import Foundation
import Logging
import SluiceActions
import SluiceConnectors
import SluiceCore
import SluiceFormats
import SluiceGuardDuty

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
    /// Likely mistakes that do not stop a run (a GuardDuty path that cannot exist, no routes).
    public var warnings: [Diagnostic] = []

    /// Loads `routesDirectory` and `connectorsDirectory`, reporting every problem at once.
    public static func load(routesDirectory: String, connectorsDirectory: String, environment: [String: String]) throws(Diagnostics) -> LoadedConfiguration {
        // Routes with errors are reported and left out; the others are still checked against the
        // connectors, so one pass reports every error (a bad pattern does not hide a bad target).
        let loadedRoutes = RouteLoader.loadReport(directory: routesDirectory, environment: environment)
        var problems = loadedRoutes.diagnostics.filter { !$0.isWarning }
        var warnings = loadedRoutes.diagnostics.filter(\.isWarning)
        let routes = loadedRoutes.routes
        // Instances with errors are reported and left out; the others are still checked (their
        // template warnings too), so one pass reports everything.
        let loadedConnectors = ConnectorLoader.loadReport(directory: connectorsDirectory, environment: environment)
        let connectors = loadedConnectors.connectors
        problems += loadedConnectors.problems
        let connectorsLoaded = !loadedConnectors.unreadFile
        var table: RouteTable?
        do { table = try RouteTable(routes: routes) } catch {
            // RouteLoader reported these already.
            if problems.isEmpty { problems += error.items }
        }
        var playbooks: [String: Playbook] = [:]
        do {
            let all = try PlaybookLoader.load(routes: routes + loadedRoutes.rejected)
            let valid = Set(routes.map(\.name))
            playbooks = all.filter { valid.contains($0.key) }
        } catch { problems += error.items }
        let byName = Dictionary(connectors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        // A connector's own template: variables a finding (or the view) cannot have render empty.
        for connector in connectors {
            guard let template = connector.template else { continue }
            for issue in TemplateCheck.variableIssues(template.source) {
                var at = connector.templateLocation ?? connector.location
                at.message = "connector '\(connector.name)': \(issue)"
                warnings.append(at.asWarning)
            }
        }

        /// Checks one target (connector name, template) and returns how it renders.
        func renderer(_ target: RouteTarget, of route: Route) -> PayloadRenderer? {
            var at = target.location ?? route.location
            guard let connector = byName[target.connector] else {
                // An instance with errors (reported) or a file that could not be read may define
                // it: complain only when it is surely not there.
                if connectorsLoaded && !loadedConnectors.namesWithErrors.contains(target.connector) {
                    let known = byName.keys.sorted()
                    let near = RouteKeys.nearest(target.connector, in: known)
                    at.message = "route '\(route.name)': target '\(target.connector)' is not a connector instance"
                        + (near.map { " (did you mean '\($0)'?)" } ?? "") + " (known: \(known.joined(separator: ", ")))"
                    problems.append(at)
                }
                return nil
            }
            // The route's own template or input transformer wins over the connector's.
            guard let source = target.template else {
                if let version = connector.ocsfVersion { return .ocsf(version: version) }
                return connector.template.map { .template($0) }
            }
            if let paths = target.inputPaths { return .inputTransformer(template: source, paths: paths) }
            do {
                let template = try PayloadTemplate(source, format: connector.templateFormat)
                if connector.payloadFormat == .json, let issue = TemplateCheck.jsonIssue(template, sample: TemplateSamples.guardDuty) {
                    at.message = "route '\(route.name)', target '\(target.connector)': \(issue)"
                    problems.append(at)
                }
                for issue in TemplateCheck.variableIssues(source) {
                    at.message = "route '\(route.name)', target '\(target.connector)': \(issue)"
                    warnings.append(at.asWarning)
                }
                return .template(template)
            } catch {
                at.message = "route '\(route.name)', target '\(target.connector)': \(error.message)"
                problems.append(at)
                return nil
            }
        }
        let renderers = (table?.routes ?? []).map { route in route.targets.map { renderer($0, of: route) } }
        if let table { warnings += Self.otherFormatTemplateWarnings(table, renderers, byName) }
        // Routes with errors: their targets and templates are checked all the same.
        for route in loadedRoutes.rejected { for target in route.targets { _ = renderer(target, of: route) } }
        if !problems.isEmpty { throw Diagnostics(problems + warnings) }
        guard let table else { throw Diagnostics(problems) }
        return LoadedConfiguration(routes: routes, table: table, connectors: connectors, playbooks: playbooks, renderers: renderers,
                                   warnings: warnings)
    }

    /// What target `target` of the route named `route` would receive for `event`: its rendered
    /// template (the route's, the instance's, or the connector type's default), else `original`, the
    /// record as it came (what `sluice run` sends; nil: the event). nil when there is no such route
    /// or target. Used by `sluice test`.
    public func previewPayload(route: String, target: Int, event: JSON, original: String? = nil) -> String? {
        guard let i = table.routes.firstIndex(where: { $0.name == route }), target < renderers[i].count else { return nil }
        // A target that frames the payload (syslog, splunk-hec, elasticsearch) shows the frame.
        let connector = connectors.first { $0.name == table.routes[i].targets[target].connector }
        if let framed = connector?.wirePreview {
            var shown: String?
            FindingDecoder().decode(Array(event.serialized().utf8)) { finding in
                guard shown == nil else { return }
                let m = finding.materialized()
                let payload = renderers[i][target].map { $0.render(m.event, summary: m.summary) } ?? Array((original ?? event.serialized()).utf8)
                shown = framed(Delivery(payload: payload, findingID: m.summary?.id, route: route, summary: m.summary))
            }
            if let shown { return shown }
        }
        guard let renderer = renderers[i][target] else { return original ?? event.serialized() }
        // Rendered as `sluice run` renders: the summary of the finding's view, OCSF out.
        var preview: String?
        FindingDecoder().decode(Array(event.serialized().utf8)) { finding in
            guard preview == nil else { return }
            if case .ocsf(let version) = renderer, let doc = finding.ocsfDetectionFinding(version: version) {
                preview = doc.serialized()
                return
            }
            let m = finding.materialized()
            preview = String(decoding: renderer.render(m.event, summary: m.summary), as: UTF8.self)
        }
        return preview ?? String(decoding: renderer.render(event, summary: FindingSummary(event: event)), as: UTF8.self)
    }
}
