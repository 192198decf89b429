import Foundation
import SluiceCore

/// Parses and checks the `playbook:` of routes, reporting every problem as `path:line:col: message`.
///
/// ```yaml
/// playbook:
///   dry_run: false                    # per route; the global `actions.dry_run` also applies
///   steps:
///     - name: isolate                 # unique in the playbook; later steps read steps.isolate.output
///       action: aws.ec2.isolate       # an executor (`sluice actions`)
///       params:                       # Mustache templates over the finding and earlier outputs
///         instance_id: "{{detail.resource.instanceDetails.instanceId}}"
///         snapshot: true
///       when:                         # an event pattern over the finding and steps.<name>.output
///         detail: {severity: [{numeric: [">=", 7]}]}
///       retry: {attempts: 3, backoff: 2s}
///       on_failure: compensate        # stop (default) | continue | compensate
///       compensate:
///         - {name: tell-soc, action: http, params: {url: "https://soar.example.com/hook"}}
///       requires_approval: {timeout: 30m, default: deny}   # or `true` (1h, deny)
/// ```
/// A list of steps may be given directly as `playbook:`.
public enum PlaybookLoader {
    static let stepKeys = ["name", "action", "params", "when", "retry", "on_failure", "compensate", "requires_approval"]

    /// The playbooks of every route that has one, by route name.
    public static func load(routes: [Route], registry: [String: any ActionExecutor.Type] = ActionRegistry.byKind) throws(Diagnostics) -> [String: Playbook] {
        var out: [String: Playbook] = [:]
        var problems: [Diagnostic] = []
        for route in routes {
            guard let node = route.playbook else { continue }
            switch load(route: route.name, node: node, registry: registry) {
            case .success(let p): out[route.name] = p
            case .failure(let d): problems += d.items
            }
        }
        if !problems.isEmpty { throw Diagnostics(problems) }
        return out
    }

    public static func load(route: String, node: YAMLNode, registry: [String: any ActionExecutor.Type] = ActionRegistry.byKind) -> Result<Playbook, Diagnostics> {
        var problems: [Diagnostic] = []
        var dryRun = false
        var stepsNode = node
        if node.isMapping {
            let r = MappingReader(node, what: "a playbook")
            dryRun = r.bool("dry_run") ?? false
            guard let s = r.node("steps") else {
                return .failure(Diagnostics(r.finish() + [node.error("route '\(route)': a playbook needs `steps`")]))
            }
            stepsNode = s
            problems += r.finish()
        }
        guard stepsNode.isSequence, !stepsNode.items.isEmpty else {
            return .failure(Diagnostics(problems + [stepsNode.error("route '\(route)': playbook steps must be a non-empty list")]))
        }
        var seen: Set<String> = []
        var steps: [PlaybookStep] = []
        for item in stepsNode.items {
            if let step = self.step(item, route: route, earlier: seen, registry: registry, allowCompensation: true, problems: &problems) {
                if seen.contains(step.name) {
                    problems.append(item.error("route '\(route)': duplicate step name '\(step.name)'"))
                }
                seen.insert(step.name)
                for c in step.compensation { seen.insert(c.name) }
                steps.append(step)
            }
        }
        if !problems.isEmpty { return .failure(Diagnostics(problems)) }
        return .success(Playbook(route: route, dryRun: dryRun, steps: steps))
    }

    static func step(_ node: YAMLNode, route: String, earlier: Set<String>, registry: [String: any ActionExecutor.Type],
                     allowCompensation: Bool, problems: inout [Diagnostic]) -> PlaybookStep? {
        let r = MappingReader(node, what: "a playbook step")
        guard node.isMapping else { problems += r.finish(); return nil }
        let name = r.string("name", required: true) ?? ""
        let label = "route '\(route)', step '\(name)'"
        let action = r.string("action", required: true) ?? ""
        let type = registry[action]
        if !action.isEmpty, type == nil {
            problems.append(r.at("action").error("\(label): unknown action '\(action)' (known: \(registry.keys.sorted().joined(separator: ", ")))"))
        }
        var parameters: [String: ParameterTemplate] = [:]
        let paramsNode = r.node("params")
        if let type {
            parameters = self.parameters(paramsNode, of: type, label: label, at: node, earlier: earlier, problems: &problems)
        }
        var when: StepCondition?
        if let w = r.node("when") {
            if w.isMapping {
                let json = w.json()
                referencedSteps(in: json.serialized(), at: w, label: label, earlier: earlier, problems: &problems)
                do { when = try StepCondition(pattern: json) } catch {
                    problems.append(w.error("\(label): when: \(error.items.map(\.message).joined(separator: "; "))"))
                }
            } else {
                problems.append(w.error("\(label): `when` must be an event pattern (a mapping)"))
            }
        }
        var retry = StepRetry()
        if let rr = r.nested("retry", what: "retry") {
            retry.declared = true
            if let n = rr.int("attempts", min: 1) { retry.attempts = n }
            if let d = rr.duration("backoff") { retry.backoff = d }
        }
        var onFailure = PlaybookStep.FailurePolicy.stop
        if let f = r.string("on_failure") {
            if let p = PlaybookStep.FailurePolicy(rawValue: f) { onFailure = p } else {
                problems.append(r.at("on_failure").error("\(label): on_failure must be stop, continue or compensate"))
            }
        }
        var compensation: [PlaybookStep] = []
        if let c = r.node("compensate") {
            if !allowCompensation {
                problems.append(c.error("\(label): a compensation step cannot have compensation steps"))
            } else if c.isSequence, !c.items.isEmpty {
                var names = earlier
                names.insert(name)
                for item in c.items {
                    if let s = step(item, route: route, earlier: names, registry: registry, allowCompensation: false, problems: &problems) {
                        compensation.append(s)
                        names.insert(s.name)
                    }
                }
            } else {
                problems.append(c.error("\(label): `compensate` must be a non-empty list of steps"))
            }
        }
        if onFailure == .compensate, compensation.isEmpty, r.node("compensate") == nil {
            problems.append(node.error("\(label): on_failure: compensate needs `compensate` steps"))
        }
        var approval: ApprovalGate?
        if let a = r.node("requires_approval") {
            if a.isMapping {
                let ar = MappingReader(a, what: "requires_approval")
                var gate = ApprovalGate()
                if let t = ar.duration("timeout") { gate.timeout = t }
                if let d = ar.string("default") {
                    if d == "approve" || d == "deny" { gate.approveOnTimeout = d == "approve" } else {
                        ar.report(ar.at("default").error("\(label): requires_approval.default must be approve or deny"))
                    }
                }
                problems += ar.finish()
                approval = gate
            } else if case .bool(let b) = a.json() {
                approval = b ? ApprovalGate() : nil
            } else {
                problems.append(a.error("\(label): requires_approval must be true, false or {timeout, default}"))
            }
        }
        problems += r.finish()
        guard !name.isEmpty, type != nil else { return nil }
        return PlaybookStep(name: name, action: action, parameters: parameters, when: when, retry: retry,
                            onFailure: onFailure, compensation: compensation, approval: approval)
    }

    static func parameters(_ node: YAMLNode?, of type: any ActionExecutor.Type, label: String, at step: YAMLNode, earlier: Set<String>,
                           problems: inout [Diagnostic]) -> [String: ParameterTemplate] {
        let specs = Dictionary(type.parameters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var out: [String: ParameterTemplate] = [:]
        if let node, !node.isMapping {
            problems.append(node.error("\(label): `params` must be a mapping"))
            return out
        }
        for (key, keyNode, value) in node?.entries ?? [] {
            guard let spec = specs[key] else {
                problems.append(keyNode.error("\(label): \(type.kind) has no parameter '\(key)' (parameters: \(specs.keys.sorted().joined(separator: ", ")))"))
                continue
            }
            func template(_ n: YAMLNode) -> PayloadTemplate? {
                let source: String
                if n.isMapping || n.isSequence {
                    guard spec.json else {
                        problems.append(n.error("\(label): '\(key)' must be a single value here"))
                        return nil
                    }
                    source = n.json().serialized()  // a structured JSON body, written as YAML
                } else {
                    source = n.string ?? ""
                }
                referencedSteps(in: source, at: n, label: label, earlier: earlier, problems: &problems)
                do { return try PayloadTemplate(source, format: spec.json ? .json : spec.url ? .url : .text) } catch {
                    problems.append(n.error("\(label): '\(key)': \(error.message)"))
                    return nil
                }
            }
            switch spec.kind {
            case .list:
                let items = value.isSequence ? value.items : [value]
                if items.contains(where: { $0.isMapping || $0.isSequence }) {
                    problems.append(value.error("\(label): '\(key)' must be a list of strings"))
                    continue
                }
                out[key] = .list(items.compactMap(template))
            case .map:
                guard value.isMapping else {
                    problems.append(value.error("\(label): '\(key)' must be a mapping"))
                    continue
                }
                var m: [String: PayloadTemplate] = [:]
                for (k, _, v) in value.entries { if let t = template(v) { m[k] = t } }
                out[key] = .map(m)
            default:
                if (value.isMapping || value.isSequence) && !spec.json {
                    problems.append(value.error("\(label): '\(key)' must be a single value"))
                    continue
                }
                if !value.isMapping, !value.isSequence, let s = value.string, !s.contains("{{") {
                    if let problem = check(literal: s, kind: spec.kind) { problems.append(value.error("\(label): '\(key)' \(problem)")) }
                }
                if let t = template(value) { out[key] = .string(t) }
            }
        }
        for spec in type.parameters where spec.required && out[spec.name] == nil && !(node?.entries.contains { $0.key == spec.name } ?? false) {
            problems.append((node ?? step).error("\(label): \(type.kind) needs parameter '\(spec.name)' (\(spec.help))"))
        }
        return out
    }

    /// Type checks of a literal (template-free) value, done at load time.
    static func check(literal s: String, kind: ActionParameter.Kind) -> String? {
        switch kind {
        case .bool: return ["true", "false", "yes", "no"].contains(s.lowercased()) ? nil : "must be true or false"
        case .integer: return Int(s) == nil ? "must be an integer" : nil
        case .duration: return DurationText.parse(s) == nil ? "must be a duration such as 30s or 5m" : nil
        default: return nil
        }
    }

    /// `steps.X` references must name an earlier step (a later one has no output yet).
    static func referencedSteps(in text: String, at node: YAMLNode, label: String, earlier: Set<String>, problems: inout [Diagnostic]) {
        var rest = Substring(text)
        while let r = rest.range(of: "steps") {
            rest = rest[r.upperBound...]
            // In a template: steps.name.output; in a pattern (JSON text): "steps":{"name":
            var name = ""
            if rest.hasPrefix(".") {
                name = String(rest.dropFirst().prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" })
            } else if rest.hasPrefix("\":{\"") {
                name = String(rest.dropFirst(4).prefix { $0 != "\"" })
            }
            if !name.isEmpty, !earlier.contains(name) {
                problems.append(node.error("\(label): refers to steps.\(name), which is not an earlier step"))
            }
        }
    }
}
