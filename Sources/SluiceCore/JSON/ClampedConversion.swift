/// Conversions for numbers that come from outside — a finding, a target's reply, a config file.
/// `Int(someDouble)` traps on NaN, infinities and anything beyond the integer range, and a
/// finding with `"count": 1e300` would then stop the router; these never trap.
extension FixedWidthInteger {
    /// `value` rounded toward zero and clamped to this type's range; NaN becomes 0.
    /// `Int(clamping: 1e300) == Int.max`, `Int(clamping: -1e300) == Int.min`, `Int(clamping: 2.9) == 2`.
    @inlinable
    public init(clamping value: Double) {
        if value.isNaN {
            self = 0
        } else if value <= Double(Self.min) {
            self = Self.min
        } else if value >= Double(Self.max) {
            // Double(Self.max) rounds up to 2^63 for Int64, which itself does not fit: clamp at >=.
            self = Self.max
        } else {
            self = Self(value.rounded(.towardZero))
        }
    }
}

extension JSON {
    /// The number rounded toward zero and clamped to `Int`'s range; nil when not a number.
    public var clampedIntValue: Int? { doubleValue.map { Int(clamping: $0) } }
}
