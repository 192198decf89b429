import Foundation
import Synchronization

/// Every key the readers of one load asked for, present or not: the keys a loader reads, derived
/// from the loader itself (a documentation test checks that an example shows each of them).
public final class KeyRecorder: Sendable {
    private let recorded = Mutex<Set<String>>([])

    public init() {}

    public var keys: Set<String> { recorded.withLock { $0 } }

    func record(_ keys: [String]) { recorded.withLock { $0.formUnion(keys) } }
}

/// Reads the keys of one YAML mapping and reports, in one pass, keys it did not expect and
/// values of the wrong type, each located at its line and column. Every loader of a
/// configuration object goes through it, so unknown keys are errors everywhere.
public final class MappingReader {
    public let node: YAMLNode
    public private(set) var diagnostics: [Diagnostic] = []
    private var known: [String] = []

    /// Set (`$keyRecorder.withValue`) to learn which keys a load reads.
    @TaskLocal public static var keyRecorder: KeyRecorder?

    public init(_ node: YAMLNode, what: String) {
        self.node = node
        if !node.isMapping { diagnostics.append(node.error("\(what) must be a mapping of keys to values")) }
    }

    public var path: String { node.path }

    public func report(_ diagnostic: Diagnostic) { diagnostics.append(diagnostic) }

    /// Where a problem with `key` is reported: its node, or the mapping when the key is absent
    /// (a problem found after reading a key never needs a force unwrap to be located).
    public func at(_ key: String) -> YAMLNode { node[key] ?? node }

    /// Where a problem with item `index` of the sequence at `key` is reported.
    public func at(_ key: String, item index: Int) -> YAMLNode {
        let items = node[key]?.items ?? []
        return items.indices.contains(index) ? items[index] : at(key)
    }

    /// The raw node of `key`, marking it known.
    public func node(_ key: String) -> YAMLNode? {
        known.append(key)
        return node[key]
    }

    public func string(_ key: String, required: Bool = false) -> String? {
        guard let n = node(key) else {
            if required { diagnostics.append(node.error("missing required key '\(key)'")) }
            return nil
        }
        guard let s = n.string, !n.isMapping, !n.isSequence else {
            diagnostics.append(n.error("'\(key)' must be a string"))
            return nil
        }
        return s
    }

    public func int(_ key: String, min: Int? = nil, max: Int? = nil) -> Int? {
        guard let n = node(key) else { return nil }
        guard let s = n.string, let v = Int(s) else {
            diagnostics.append(n.error("'\(key)' must be an integer"))
            return nil
        }
        if let min, v < min {
            diagnostics.append(n.error("'\(key)' must be at least \(min)"))
            return nil
        }
        if let max, v > max {
            diagnostics.append(n.error("'\(key)' must be at most \(max)"))
            return nil
        }
        return v
    }

    public func double(_ key: String) -> Double? {
        guard let n = node(key) else { return nil }
        guard let s = n.string, let v = Double(s), v.isFinite else {
            diagnostics.append(n.error("'\(key)' must be a number"))
            return nil
        }
        return v
    }

    public func bool(_ key: String) -> Bool? {
        guard let n = node(key) else { return nil }
        switch n.string {
        case "true", "True", "TRUE", "yes": return true
        case "false", "False", "FALSE", "no": return false
        default:
            diagnostics.append(n.error("'\(key)' must be true or false"))
            return nil
        }
    }

    public func duration(_ key: String) -> Duration? {
        guard let n = node(key) else { return nil }
        guard let s = n.string, let d = DurationText.parse(s) else {
            if let s = n.string, DurationText.isOutOfRange(s) {
                diagnostics.append(n.error("'\(key)' is out of range: at most \(DurationText.maximumText)"))
            } else {
                diagnostics.append(n.error("'\(key)' must be a duration such as 500ms, 10s, 5m or 24h"))
            }
            return nil
        }
        return d
    }

    /// A mapping of string keys to string values (headers, labels).
    public func stringMap(_ key: String) -> [(String, String)]? {
        guard let n = node(key) else { return nil }
        guard n.isMapping else {
            diagnostics.append(n.error("'\(key)' must be a mapping"))
            return nil
        }
        return n.entries.compactMap { k, _, v in
            guard let s = v.string, !v.isMapping, !v.isSequence else {
                diagnostics.append(v.error("'\(key).\(k)' must be a string"))
                return nil
            }
            return (k, s)
        }
    }

    /// A nested mapping read by its own reader; its diagnostics join this one's on `finish`.
    public func nested(_ key: String, what: String) -> MappingReader? {
        guard let n = node(key) else { return nil }
        let r = MappingReader(n, what: what)
        children.append(r)
        return r
    }
    private var children: [MappingReader] = []

    /// Records a configured value as a secret: it is scrubbed from every outcome, log line and
    /// dead-letter reason of the object being read (`secret(_:)` records what it reads).
    public func markSecret(_ value: String) { markedSecrets.append(value) }
    private var markedSecrets: [String] = []

    /// Every secret value recorded on this reader and its nested readers.
    public var secretValues: [String] { markedSecrets + children.flatMap(\.secretValues) }

    /// Marks keys as known without reading them (read elsewhere).
    public func allow(_ keys: String...) { known.append(contentsOf: keys) }

    /// The keys asked for so far, in the order first asked, each once.
    public var knownKeys: [String] {
        var seen = Set<String>()
        return known.filter { seen.insert($0).inserted }
    }

    /// Makes an unknown key's message name what the mapping is and list every key it takes,
    /// `leading` first: `unknown key "urll" for a webhook connector (did you mean "url"?);
    /// expected one of: url, method, headers, …` — a newcomer sees the keys without the docs.
    public func describeUnknownKeys(as subject: String, leading: [String] = []) {
        unknownKeySubject = (subject, leading)
    }
    private var unknownKeySubject: (subject: String, leading: [String])?

    /// Reports keys nobody asked for and returns every diagnostic.
    public func finish() -> [Diagnostic] {
        MappingReader.keyRecorder?.record(known)
        var out = diagnostics
        for (key, keyNode, _) in node.entries where !known.contains(key) {
            // The closest known key, if it is close enough to be the one meant.
            let close = known.min { editDistance($0, key) < editDistance($1, key) }.flatMap { editDistance($0, key) <= 2 ? $0 : nil }
            if let (subject, leading) = unknownKeySubject {
                let hint = close.map { " (did you mean \"\($0)\"?)" } ?? ""
                var seen = Set<String>()
                let expected = (leading + known).filter { seen.insert($0).inserted }
                out.append(keyNode.error("unknown key \"\(key)\" for \(subject)\(hint); expected one of: \(expected.joined(separator: ", "))"))
                continue
            }
            let hint = close.map { " (did you mean '\($0)'?)" } ?? ""
            out.append(keyNode.error("unknown key '\(key)'\(hint)"))
        }
        for child in children { out.append(contentsOf: child.finish()) }
        return out
    }
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count)
    for i in 1...a.count {
        var cur = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        prev = cur
    }
    return prev[b.count]
}

/// Durations as written in configuration files: `250ms`, `10s`, `5m`, `24h`, `1.5s`.
public enum DurationText {
    /// The longest duration accepted: ten years. Longer ones mean nothing to a timer and would
    /// overflow the millisecond arithmetic behind timers and curl options
    /// (`timeout: 99999999999999999999s` used to trap in `validate`).
    public static let maximum: Duration = .seconds(maximumSeconds)
    public static let maximumText = "3650d"
    private static let maximumSeconds: Int64 = 3650 * 86_400

    /// nil when `text` is not a duration or is longer than `maximum`.
    public static func parse(_ text: String) -> Duration? {
        guard let seconds = seconds(text), seconds <= Double(maximumSeconds) else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// Whether `text` is a well-formed duration longer than `maximum`.
    public static func isOutOfRange(_ text: String) -> Bool {
        seconds(text).map { $0 > Double(maximumSeconds) } ?? false
    }

    private static func seconds(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, seconds) in units where t.hasSuffix(suffix) {
            guard let v = Double(t.dropLast(suffix.count)), v >= 0, v.isFinite else { return nil }
            return v * seconds
        }
        return nil
    }
}
