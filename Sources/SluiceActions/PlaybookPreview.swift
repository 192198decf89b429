import SluiceCore
import SluiceGuardDuty
import SluiceHTTP

/// What a route's playbook would do for one finding, worked out from the finding alone — no
/// executor runs, no lookup, no credentials: `sluice test` shows it before anything acts.
/// For each step (and its compensation steps): its `when` outcome, its parameters rendered
/// (secrets redacted), the approval it waits for, its target, what stays unresolved until it
/// runs, and the guards that would apply.
public struct PlaybookPreview: Sendable {
    public struct Step: Sendable {
        public var name: String
        public var action: String
        /// Set for a compensation step: the step whose failure runs it.
        public var compensates: String?
        /// `always`, `true`, `false (skipped)`, or `decided when it runs (reads steps.…)`.
        public var when: String
        /// Rendered values (JSON, secrets redacted) by name.
        public var parameters: JSON
        /// Parameters whose template reads earlier steps' outputs: empty here, known when the step runs.
        public var fromEarlierSteps: [String]
        public var approval: String?
        public var target: String
        public var unresolved: [String]
        public var guards: [String]
        public var onFailure: String
    }

    public let route: String
    /// `dry_run: true` on the route, or the run configuration's dry run.
    public let dryRun: Bool
    public let steps: [Step]
    /// Every guard in force (`GuardSettings.summary`), so that "no guard line" never leaves a
    /// reader guessing whether a cap is off or just not shown.
    public let guardsInForce: String
    /// Where the guards come from (`sluice test`: the --config file, or the built-in defaults).
    public let guardsSource: String?

    public init(playbook: Playbook, finding: JSON, settings: ActionSettings, guardsSource: String? = nil) {
        route = playbook.route
        guardsInForce = settings.guards.summary
        self.guardsSource = guardsSource
        dryRun = playbook.dryRun || settings.dryRun
        let finding = GuardDutyEnvelope.wrapped(finding)
        let findingID = PlaybookRunner.findingID(finding)
        let context = PlaybookRunner.context(finding, steps: .object([]))
        let summary = FindingSummary.of(event: finding)
        var out: [Step] = []
        for step in playbook.steps {
            out.append(Self.step(step, compensates: nil, finding: finding, findingID: findingID, route: playbook.route, context: context,
                                 summary: summary, guards: settings.guards))
            for c in step.compensation {
                out.append(Self.step(c, compensates: step.name, finding: finding, findingID: findingID, route: playbook.route, context: context,
                                     summary: summary, guards: settings.guards))
            }
        }
        steps = out
    }

    static func step(_ step: PlaybookStep, compensates: String?, finding: JSON, findingID: String, route: String, context: JSON,
                     summary: FindingSummary?, guards: GuardSettings) -> Step {
        let type = ActionRegistry.byKind[step.action]
        var parameters = ActionParameters(step.parameters.mapValues { $0.render(context, summary: summary) })
        let fromSteps = step.parameters.filter { $0.value.sources.contains { $0.contains("steps.") } }.map(\.key).sorted()
        // What a later step reads from an earlier one is unknown here: left out, not guessed.
        for key in fromSteps { parameters.values[key] = nil }
        var request = ActionRequest(finding: finding, findingID: findingID, route: route, step: step.name, runID: "\(route):\(findingID)",
                                    parameters: parameters)
        request.templates = step.parameters
        var target = "-"
        var unresolved: [String] = fromSteps.map { "\($0): from an earlier step's output" }
        var guardLines: [String] = []
        if let type {
            do throws(ActionError) {
                if let planned = try type.plannedTarget(request) {
                    target = planned.target.description
                    unresolved += planned.unresolved
                    if let refusal = ActionGuards.protection(of: planned.target, settings: guards) {
                        guardLines.append("would be refused: \(refusal)")
                    }
                } else {
                    target = "resolved when the step runs"
                }
            } catch {
                unresolved.append("target: \(error.message)")
            }
            if let cap = guards.maxPerHour[type.kind] ?? guards.maxPerHour["default"] { guardLines.append("at most \(cap) \(type.kind) actions per hour") }
            if let cap = guards.maxPerHourPerRoute { guardLines.append("at most \(cap) actions per hour for route '\(route)'") }
            if type.isIsolation, let cap = guards.maxConcurrentIsolations { guardLines.append("at most \(cap) isolations at once") }
            let capped = guards.maxPerHour[type.kind] ?? guards.maxPerHour["default"] ?? guards.maxPerHourPerRoute
                ?? (type.isIsolation ? guards.maxConcurrentIsolations : nil)
            if capped == nil { guardLines.append("no cap on how often it runs (actions.guards sets none for \(type.kind))") }
        } else {
            unresolved.append("no executor '\(step.action)'")
        }
        return Step(
            name: step.name, action: step.action, compensates: compensates, when: whenOutcome(step.when, context: context),
            parameters: parameters.redacted(type?.parameters ?? []), fromEarlierSteps: fromSteps,
            approval: step.approval.map { "waits up to \($0.timeout.wholeMilliseconds / 1000)s for sluice approvals approve|deny; then \($0.approveOnTimeout ? "approves" : "denies")" },
            target: target, unresolved: unresolved, guards: guardLines, onFailure: step.onFailure.rawValue)
    }

    /// A condition on the finding alone is decided now; one that reads `steps` only when the step runs.
    static func whenOutcome(_ when: StepCondition?, context: JSON) -> String {
        guard let when else { return "always" }
        if when.pattern.objectValue?.contains(where: { $0.key == "steps" }) == true {
            let read = when.pattern.value(atPath: "steps")?.objectValue?.map { "steps.\($0.key)" } ?? []
            return "decided when it runs (reads \(read.joined(separator: ", ")))"
        }
        return when.matches(context) ? "true" : "false (skipped)"
    }

    /// Text lines for `sluice test`, indented under the route.
    public var lines: [String] {
        var out = ["playbook\(dryRun ? " (dry run: audited, nothing done)" : ""):", "  guards in force\(guardsSource.map { " (\($0))" } ?? ""): \(guardsInForce)"]
        var number = 0
        for s in steps {
            if s.compensates == nil { number += 1 }
            let label = s.compensates.map { "    compensation of \($0): \(s.name)" } ?? "  \(number). \(s.name)"
            out.append("\(label)  [\(s.action)]")
            let pad = s.compensates == nil ? "       " : "        "
            out.append(pad + "when: \(s.when)")
            if case .object(let members) = s.parameters, !members.isEmpty {
                out.append(pad + "params: " + s.parameters.serialized())
            }
            if let a = s.approval { out.append(pad + "approval: \(a)") }
            out.append(pad + "target: \(Self.printable(s.target))")
            for u in s.unresolved { out.append(pad + "unresolved: \(Self.printable(u))") }
            for g in s.guards { out.append(pad + "guard: \(g)") }
            if s.compensates == nil { out.append(pad + "on failure: \(s.onFailure)") }
        }
        return out
    }

    /// Finding text as a terminal shows it harmlessly: control characters JSON-escaped, no quotes.
    static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return text }
        return String(JSON.string(text).serialized().dropFirst().dropLast())
    }

    public var json: JSON {
        .object([
            (key: "dry_run", value: .bool(dryRun)),
            (key: "guards_in_force", value: .string(guardsInForce)),
            (key: "guards_source", value: guardsSource.map(JSON.string) ?? .null),
            (key: "steps", value: .array(steps.map { s in
                .object([
                    (key: "name", value: .string(s.name)),
                    (key: "action", value: .string(s.action)),
                    (key: "compensates", value: s.compensates.map(JSON.string) ?? .null),
                    (key: "when", value: .string(s.when)),
                    (key: "parameters", value: s.parameters),
                    (key: "approval", value: s.approval.map(JSON.string) ?? .null),
                    (key: "target", value: .string(s.target)),
                    (key: "unresolved", value: .array(s.unresolved.map { .string($0) })),
                    (key: "guards", value: .array(s.guards.map { .string($0) })),
                    (key: "on_failure", value: .string(s.onFailure)),
                ])
            })),
        ])
    }
}

extension ParameterTemplate {
    /// The template sources as written (one, or each of a list or map).
    var sources: [String] {
        switch self {
        case .string(let t): return [t.source]
        case .list(let l): return l.map(\.source)
        case .map(let m): return m.values.map(\.source)
        }
    }
}
