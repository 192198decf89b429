import Foundation
import SluiceCore

/// Wall-clock milliseconds since the Unix epoch: state moves between instances, so its times are
/// wall-clock times, not monotonic ones.
public typealias EpochMillis = Int64

/// The times a record from outside (a changelog, repartition or silences record) may carry:
/// within ±9e15 ms (about 285,000 years) of the epoch. The engine adds windows of up to a year to
/// them and subtracts them from now; bounded so, no such sum can overflow.
func isPlausibleEpochMillis(_ t: EpochMillis) -> Bool { (-8_999_999_999_999_999 ... 8_999_999_999_999_999).contains(t) }

/// RFC 3339 UTC text of an epoch time, to the second (the precision of GuardDuty's own times).
enum RFC3339 {
    static func format(_ t: EpochMillis) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date(timeIntervalSince1970: Double(t) / 1000))
    }
}

/// State keys: `route \0 target \0 value \0 value…`. A value is the JSON text at the path, or
/// `\u{1}` when the path is missing — never equal to any JSON text, so a finding without the
/// field never shares a key with one that has it as `null` or `""`.
public enum StateKey {
    static let missing = "\u{1}"

    public static func make(route: String, target: String, paths: [String], event: JSON) -> String {
        var key = route + "\u{0}" + target
        for path in paths {
            key += "\u{0}"
            if let v = event.value(atPath: path) { v.write(to: &key) } else { key += missing }
        }
        return key
    }

    /// The JSON text at each path (nil where missing): what an inhibit rule compares.
    public static func values(paths: [String], event: JSON) -> [String?] {
        paths.map { event.value(atPath: $0)?.serialized() }
    }

    /// The route, target and values of a key, for digests and logs.
    public static func parts(_ key: String) -> [String] {
        key.split(separator: "\u{0}", omittingEmptySubsequences: false).map { $0 == missing ? "(missing)" : String($0) }
    }
}

/// Converts a duration to whole milliseconds without trapping (rule durations are at most a year).
@inline(__always) func millis(_ d: Duration) -> EpochMillis { HoldRuleLoader.milliseconds(d) }
