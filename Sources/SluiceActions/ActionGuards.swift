import Foundation
import Synchronization

/// The blast-radius guards: protected resources are never touched, and actions are capped per
/// rolling hour (per executor kind and per route) and in concurrent isolations. A refusal is a
/// reason string the runner audits; it is never retried.
public final class ActionGuards: Sendable {
    public let settings: GuardSettings
    private let now: @Sendable () -> Double

    private struct State {
        var byKind: [String: [Double]] = [:]
        var byRoute: [String: [Double]] = [:]
        var isolations = 0
    }
    private let state = Mutex(State())

    public init(settings: GuardSettings, now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.settings = settings
        self.now = now
    }

    /// Why `target` may never be touched, or nil. Pure: checked before any budget is spent.
    public static func protection(of target: ActionTarget, settings: GuardSettings) -> String? {
        for rule in settings.protectedTags {
            guard let value = target.tags[rule.key] else { continue }
            if rule.value == nil || rule.value == value {
                return "protected: \(target.description) carries tag \(rule.key)=\(value)"
            }
        }
        if let account = target.account, settings.protectedAccounts.contains(account) {
            return "protected: account \(account) is protected"
        }
        if let ns = target.namespace, settings.protectedNamespaces.contains(ns) {
            return "protected: namespace \(ns) is protected"
        }
        return nil
    }

    /// Admits one real action (not a dry run) or says why not. An admitted isolation holds a
    /// concurrency slot until `finished(isolation:)`.
    public func admit(kind: String, isIsolation: Bool, route: String, target: ActionTarget) -> String? {
        if let reason = ActionGuards.protection(of: target, settings: settings) { return reason }
        let t = now()
        return state.withLock { s -> String? in
            let hourAgo = t - 3600
            s.byKind[kind, default: []].removeAll { $0 <= hourAgo }
            s.byRoute[route, default: []].removeAll { $0 <= hourAgo }
            if let cap = settings.maxPerHour[kind] ?? settings.maxPerHour["default"], s.byKind[kind, default: []].count >= cap {
                return "cap: \(kind) reached its limit of \(cap) actions per hour"
            }
            if let cap = settings.maxPerHourPerRoute, s.byRoute[route, default: []].count >= cap {
                return "cap: route '\(route)' reached its limit of \(cap) actions per hour"
            }
            if isIsolation, let cap = settings.maxConcurrentIsolations, s.isolations >= cap {
                return "cap: \(s.isolations) isolations already under way (limit \(cap))"
            }
            s.byKind[kind, default: []].append(t)
            s.byRoute[route, default: []].append(t)
            if isIsolation { s.isolations += 1 }
            return nil
        }
    }

    /// Gives back the budget of an admitted action that changed nothing (already done), so
    /// repeated findings about one quarantined instance do not use up the hourly caps.
    public func refund(kind: String, route: String) {
        state.withLock { s in
            _ = s.byKind[kind]?.popLast()
            _ = s.byRoute[route]?.popLast()
        }
    }

    public func finished(isolation: Bool) {
        guard isolation else { return }
        state.withLock { $0.isolations -= 1 }
    }
}
