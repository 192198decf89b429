/// A contiguous range of IPv4 or IPv6 addresses: what a `cidr` pattern (or a trusted-IP list
/// entry) matches. IPv4 and IPv6 are separate spaces, as in EventBridge.
public struct IPRange: Sendable, Hashable, CustomStringConvertible {
    public var isIPv6: Bool
    public var lower: UInt128
    public var upper: UInt128

    public init(isIPv6: Bool, lower: UInt128, upper: UInt128) {
        self.isIPv6 = isIPv6
        self.lower = lower
        self.upper = upper
    }

    /// Parses `a.b.c.d/n` or an IPv6 CIDR; a bare address is a one-address range.
    public init(cidr text: String) throws(PatternError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let (v6, address) = IPRange.parseAddress(parts[0].utf8) else {
            throw PatternError("invalid CIDR or IP address \"\(text)\"")
        }
        let bits = v6 ? 128 : 32
        var prefix = bits
        if parts.count == 2 {
            guard let n = Int(parts[1]), n >= 0, n <= bits, parts[1].allSatisfy(\.isASCII) else {
                throw PatternError("invalid prefix length in CIDR \"\(text)\" (0...\(bits))")
            }
            prefix = n
        }
        let hostBits = bits - prefix
        let hostMask: UInt128 = hostBits == 0 ? 0 : (hostBits == 128 ? ~0 : (UInt128(1) << hostBits) - 1)
        self.init(isIPv6: v6, lower: address & ~hostMask, upper: address | hostMask)
    }

    public func contains(isIPv6 v6: Bool, _ address: UInt128) -> Bool {
        v6 == isIPv6 && address >= lower && address <= upper
    }

    public var description: String { "\(isIPv6 ? "v6" : "v4"):\(String(lower, radix: 16))-\(String(upper, radix: 16))" }

    /// Parses an IPv4 dotted quad or an IPv6 address (with `::` and an embedded IPv4 tail).
    public static func parseAddress<C: Collection>(_ bytes: C) -> (isIPv6: Bool, address: UInt128)? where C.Element == UInt8 {
        if bytes.isEmpty || bytes.count > 45 { return nil }
        if !bytes.contains(UInt8(ascii: ":")) {
            guard let v4 = parseIPv4(bytes) else { return nil }
            return (false, UInt128(v4))
        }
        guard let v6 = parseIPv6(Array(bytes)) else { return nil }
        return (true, v6)
    }

    static func parseIPv4<C: Collection>(_ bytes: C) -> UInt32? where C.Element == UInt8 {
        var result: UInt32 = 0
        var octet: UInt32 = 0
        var digits = 0
        var parts = 0
        for b in bytes {
            if b == UInt8(ascii: ".") {
                guard digits > 0 else { return nil }
                result = result << 8 | octet
                parts += 1
                octet = 0
                digits = 0
            } else if b >= 48 && b <= 57 {
                if digits > 0 && octet == 0 { return nil }  // leading zero
                octet = octet * 10 + UInt32(b - 48)
                digits += 1
                if octet > 255 { return nil }
            } else {
                return nil
            }
        }
        guard digits > 0, parts == 3 else { return nil }
        return result << 8 | octet
    }

    static func parseIPv6(_ bytes: [UInt8]) -> UInt128? {
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawGap = false
        var i = 0
        let n = bytes.count
        if n >= 2 && bytes[0] == UInt8(ascii: ":") && bytes[1] == UInt8(ascii: ":") {
            sawGap = true
            i = 2
        } else if n > 0 && bytes[0] == UInt8(ascii: ":") {
            return nil
        }
        while i < n {
            // group or embedded IPv4
            var j = i
            while j < n && bytes[j] != UInt8(ascii: ":") { j += 1 }
            let group = bytes[i..<j]
            if group.contains(UInt8(ascii: ".")) {
                guard j == n, let v4 = parseIPv4(group) else { return nil }
                let parts = [UInt16(v4 >> 16), UInt16(v4 & 0xFFFF)]
                if sawGap { tail += parts } else { head += parts }
                i = n
                break
            }
            guard !group.isEmpty, group.count <= 4 else { return nil }
            var v: UInt16 = 0
            for b in group {
                let d: UInt16
                switch b {
                case 48...57: d = UInt16(b - 48)
                case 97...102: d = UInt16(b - 87)
                case 65...70: d = UInt16(b - 55)
                default: return nil
                }
                v = v << 4 | d
            }
            if sawGap { tail.append(v) } else { head.append(v) }
            i = j
            if i < n {
                // at ':'
                if i + 1 < n && bytes[i + 1] == UInt8(ascii: ":") {
                    if sawGap { return nil }
                    sawGap = true
                    i += 2
                } else {
                    i += 1
                    if i == n { return nil }  // trailing single ':'
                }
            }
        }
        let total = head.count + tail.count
        if sawGap ? total > 7 : total != 8 { return nil }
        let groups = head + Array(repeating: 0, count: 8 - total) + tail
        var result: UInt128 = 0
        for g in groups { result = result << 16 | UInt128(g) }
        return result
    }
}
