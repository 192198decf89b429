import SluiceCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An instant in UTC with millisecond precision, read from a finding's ISO 8601 timestamps
/// (`2025-05-12T08:14:37.123Z`, GuardDuty's `createdAt` / `updatedAt`) and written in the forms SIEM
/// targets want: epoch seconds (Splunk HEC `time`), RFC 3339 (syslog) and date patterns (daily
/// Elasticsearch indices). Pure arithmetic, no Foundation formatters: it runs once per delivery.
struct FindingTimestamp: Sendable, Equatable {
    var epochMilliseconds: Int64

    init(epochMilliseconds: Int64) { self.epochMilliseconds = epochMilliseconds }

    /// The current wall-clock time.
    static func now() -> FindingTimestamp {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return FindingTimestamp(epochMilliseconds: Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000)
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; nil for anything else.
    init?(iso8601 text: String) {
        let b = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int64? {
            guard from + count <= b.count else { return nil }
            var v: Int64 = 0
            for c in b[from..<(from + count)] {
                guard c >= 48, c <= 57 else { return nil }
                v = v * 10 + Int64(c - 48)
            }
            return v
        }
        guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 116, b[13] == 58, b[16] == 58,
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second <= 60 else { return nil }
        var i = 19
        var millis: Int64 = 0
        if i < b.count, b[i] == 46 {  // '.'
            i += 1
            var digits = 0
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                if digits < 3 { millis = millis * 10 + Int64(b[i] - 48) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            if digits < 3 { for _ in digits..<3 { millis *= 10 } }
        }
        var offsetMinutes: Int64 = 0
        guard i < b.count else { return nil }
        if b[i] == 90 || b[i] == 122 {  // 'Z'
            i += 1
        } else if b[i] == 43 || b[i] == 45, let h = number(i + 1, 2), b.count > i + 3, b[i + 3] == 58, let m = number(i + 4, 2) {
            offsetMinutes = (h * 60 + m) * (b[i] == 45 ? -1 : 1)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let days = CivilDate.days(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60
        epochMilliseconds = seconds * 1000 + millis
    }

    /// Epoch seconds with milliseconds, as HEC's `time` takes them: `1747037677.123`.
    var epochSecondsText: String {
        let s = epochMilliseconds.floorDivided(by: 1000), ms = epochMilliseconds - s * 1000
        return "\(s)." + String(ms + 1000).dropFirst()
    }

    /// RFC 3339 in UTC with milliseconds (`2025-05-12T08:14:37.123Z`), the syslog TIMESTAMP form.
    var rfc3339: String {
        let c = components
        return "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))T\(pad(c.hour, 2)):\(pad(c.minute, 2)):\(pad(c.second, 2)).\(pad(c.millisecond, 3))Z"
    }

    /// Expands `%Y` (year), `%m` (month), `%d` (day), `%H` (hour) and `%%` in UTC: `guardduty-%Y.%m.%d`.
    func formatted(_ pattern: String) -> String {
        let c = components
        var out = ""
        var percent = false
        for ch in pattern {
            if percent {
                switch ch {
                case "Y": out += pad(c.year, 4)
                case "m": out += pad(c.month, 2)
                case "d": out += pad(c.day, 2)
                case "H": out += pad(c.hour, 2)
                default: out.append(ch)  // "%%" → "%"; others are rejected when the pattern is read
                }
                percent = false
            } else if ch == "%" {
                percent = true
            } else {
                out.append(ch)
            }
        }
        return out
    }

    /// The pattern letters `formatted` knows.
    static let patternLetters: Set<Character> = ["Y", "m", "d", "H", "%"]

    private var components: (year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64, millisecond: Int64) {
        let seconds = epochMilliseconds.floorDivided(by: 1000)
        let days = seconds.floorDivided(by: 86_400)
        let rest = seconds - days * 86_400
        let (y, m, d) = CivilDate.date(days: days)
        return (y, m, d, rest / 3600, rest % 3600 / 60, rest % 60, epochMilliseconds - seconds * 1000)
    }

    private func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}

extension Int64 {
    fileprivate func floorDivided(by d: Int64) -> Int64 {
        let q = self / d
        return (self % d != 0 && (self < 0) != (d < 0)) ? q - 1 : q
    }
}
