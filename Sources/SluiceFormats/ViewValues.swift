import SluiceCore

/// Conversions of the view (docs/formats.md §2): text copied, numbers accepted only when integral
/// and in range (checked on the double before any conversion, so nothing traps), times normalised
/// to RFC 3339 UTC with three fraction digits.
enum ViewValues {
    /// A string, or nil for any other JSON type.
    static func text(_ v: JSONView?) -> String? { v?.string }

    /// Python's `a or b or c` over texts: the first non-empty one, else the last operand.
    static func firstNonEmpty(_ values: String?...) -> String? {
        for v in values where v?.isEmpty == false { return v }
        return values.last ?? nil
    }

    /// A JSON number with an integral value in 0...limit (limit < 2^63), whatever its spelling.
    static func integral(_ v: JSONView?, limit: Int) -> Int? {
        guard let v, v.kind == .number else { return nil }
        if let i = v.int64 { return i >= 0 && i <= Int64(limit) ? Int(i) : nil }
        if v.uint64 != nil { return nil }  // above Int64.max, beyond every limit
        guard let d = v.double, d >= 0, d <= Double(limit), d.rounded(.towardZero) == d else { return nil }
        return Int(d)
    }

    /// A count or pid: an integral number below 2^53, or decimal text of at most 15 digits.
    static func count(_ v: JSONView?) -> Int? {
        if let s = v?.string {
            let digits = s.utf8
            guard (1...15).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            return Int(s)
        }
        return integral(v, limit: (1 << 53) - 1)
    }

    /// OCSF `timestamp_t`: epoch milliseconds up to the end of year 9999.
    static func epochMilliseconds(_ v: JSONView?) -> String? {
        guard let ms = integral(v, limit: 253_402_300_799_999) else { return nil }
        return format(epochMilliseconds: ms)
    }

    /// RFC 3339 text → `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC (fraction truncated); nil when not RFC 3339.
    static func rfc3339(_ v: JSONView?) -> String? {
        // Read in place from the parser's tape: no String, no array (three times per finding).
        guard let bytes = v?.stringBytes else { return nil }
        return rfc3339(bytes: bytes)
    }

    static func rfc3339(_ s: String) -> String? {
        var s = s
        return s.withUTF8 { rfc3339(bytes: $0) }
    }

    static func rfc3339(bytes b: UnsafeBufferPointer<UInt8>) -> String? {
        func digits(_ at: Int, _ n: Int) -> Int? {
            guard at + n <= b.count else { return nil }
            var value = 0
            for i in at..<(at + n) {
                guard (0x30...0x39).contains(b[i]) else { return nil }
                value = value * 10 + Int(b[i] - 0x30)
            }
            return value
        }
        guard b.count >= 20, let year = digits(0, 4), b[4] == 0x2D, let month = digits(5, 2), b[7] == 0x2D,
              let day = digits(8, 2), b[10] == 0x54, let hour = digits(11, 2), b[13] == 0x3A,
              let minute = digits(14, 2), b[16] == 0x3A, let second = digits(17, 2) else { return nil }
        var i = 19
        var millis = 0
        if b[i] == 0x2E {
            var n = 0
            i += 1
            while i < b.count, (0x30...0x39).contains(b[i]) {
                if n < 3 { millis = millis * 10 + Int(b[i] - 0x30) }
                n += 1
                i += 1
            }
            guard (1...9).contains(n) else { return nil }
            for _ in n..<max(n, 3) { millis *= 10 }
        }
        guard i < b.count else { return nil }
        var offsetMinutes = 0
        if b[i] == 0x5A {
            guard i + 1 == b.count else { return nil }
        } else if b[i] == 0x2B || b[i] == 0x2D {
            let sign = b[i] == 0x2B ? 1 : -1
            guard let h = digits(i + 1, 2) else { return nil }
            var j = i + 3
            if j < b.count, b[j] == 0x3A { j += 1 }
            guard let m = digits(j, 2), j + 2 == b.count else { return nil }
            offsetMinutes = sign * (h * 60 + m)
        } else {
            return nil
        }
        guard (1...9999).contains(year), (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
              hour < 24, minute < 60, second < 60 else { return nil }
        let seconds = daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offsetMinutes * 60
        let utc = civil(fromSeconds: seconds)
        guard (1...9999).contains(utc.year) else { return nil }
        return stamp(utc, millis: millis)
    }

    static func format(epochMilliseconds ms: Int) -> String {
        stamp(civil(fromSeconds: ms / 1000), millis: ms % 1000)
    }

    /// View time text → epoch milliseconds (for OCSF out); nil when not a view time.
    static func epochMilliseconds(viewTime s: String) -> Int? {
        guard let normal = rfc3339(s) else { return nil }
        let b = Array(normal.utf8)
        func n(_ at: Int, _ len: Int) -> Int { b[at..<(at + len)].reduce(0) { $0 * 10 + Int($1 - 0x30) } }
        let seconds = daysFromCivil(n(0, 4), n(5, 2), n(8, 2)) * 86_400 + n(11, 2) * 3600 + n(14, 2) * 60 + n(17, 2)
        return seconds * 1000 + n(20, 3)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func daysFromCivil(_ y: Int, _ m: Int, _ d: Int) -> Int {
        Int(CivilDate.days(year: Int64(y), month: Int64(m), day: Int64(d)))
    }

    private struct Civil { var year, month, day, hour, minute, second: Int }

    private static func civil(fromSeconds s: Int) -> Civil {
        let days = s >= 0 ? s / 86_400 : (s - 86_399) / 86_400
        let rest = s - days * 86_400
        let date = CivilDate.date(days: Int64(days))
        return Civil(year: Int(date.year), month: Int(date.month), day: Int(date.day), hour: rest / 3600, minute: rest % 3600 / 60, second: rest % 60)
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`, written digit by digit into the string's own storage (the
    /// interpolated form allocated a string per part). Every part is in range: years 1–9999.
    private static func stamp(_ c: Civil, millis: Int) -> String {
        String(unsafeUninitializedCapacity: 24) { out in
            var i = 0
            func put(_ v: Int, _ width: Int) {
                var divisor = 1
                for _ in 1..<width { divisor *= 10 }
                var rest = v
                while divisor > 0 {
                    out[i] = UInt8(truncatingIfNeeded: 0x30 + (rest / divisor) % 10)
                    rest %= divisor
                    divisor /= 10
                    i += 1
                }
            }
            func sep(_ c: UInt8) {
                out[i] = c
                i += 1
            }
            put(c.year, 4); sep(0x2D); put(c.month, 2); sep(0x2D); put(c.day, 2); sep(0x54)
            put(c.hour, 2); sep(0x3A); put(c.minute, 2); sep(0x3A); put(c.second, 2); sep(0x2E); put(millis, 3); sep(0x5A)
            return i
        }
    }
}

extension JSONView {
    /// Element `i` of an array, nil otherwise.
    func element(_ i: Int) -> JSONView? {
        var found: JSONView?
        var n = 0
        forEachElement { e in
            if n == i { found = e }
            n += 1
        }
        return found
    }

    var isObject: Bool { kind == .object }
}
