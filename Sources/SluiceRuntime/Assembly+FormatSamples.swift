import SluiceConnectors
import SluiceCore
import SluiceFormats

extension LoadedConfiguration {
    /// A JSON template is checked on a GuardDuty sample (an error when that is not JSON). A route
    /// that also takes other formats (a pattern on `sluice.*`) or other severities can still break
    /// on them — `"s": {{detail.severity}}` for a Falco alert is `"s": ` — and `run` then
    /// dead-letters those findings `render_failed`. Each sample of every format and severity band
    /// that a route matches is rendered with each of its JSON templates; a failure is a warning at
    /// the target (the route may never see such a finding), at most one per target, and none for
    /// a template the GuardDuty sample already failed (that is an error already).
    static func otherFormatTemplateWarnings(_ table: RouteTable, _ renderers: [[PayloadRenderer?]],
                                            _ connectors: [String: ConnectorDefinition]) -> [Diagnostic] {
        var warned = Set<[Int]>()
        var warnings: [Diagnostic] = []
        let scratch = MatchScratch()
        for sample in TemplateSamples.everyFormatAndBand {
            var matched: [Int] = []
            FindingDecoder().decode(sample.text) { matched += table.matchIgnoringStop($0.event, scratch: scratch) }
            for r in Set(matched).sorted() where r < renderers.count {
                let route = table.routes[r]
                for (t, renderer) in renderers[r].enumerated() where t < route.targets.count && !warned.contains([r, t]) {
                    let target = route.targets[t]
                    guard case .template(let template)? = renderer, connectors[target.connector]?.payloadFormat == .json,
                          TemplateCheck.jsonIssue(template, sample: TemplateSamples.guardDuty) == nil,
                          let issue = TemplateCheck.jsonIssue(template, sample: sample.template) else { continue }
                    warned.insert([r, t])
                    var at = target.location ?? route.location
                    at.message = "route '\(route.name)', target '\(target.connector)': \(issue); this route matches such findings, "
                        + "and run would dead-letter them (render_failed)"
                    warnings.append(at.asWarning)
                }
            }
        }
        return warnings
    }
}
