import Testing

@testable import SluiceHTTP

/// Issue 10 point 1: a target's `Retry-After` cannot overflow the timer arithmetic behind it,
/// and Duration → milliseconds/microseconds saturates instead of trapping.
@Suite struct RetryAfterLimitTests {
    @Test func hugeDelaySecondsAreCappedAtADay() {
        #expect(RetryAfter.parse("9223372036854775807", now: 0) == .seconds(86_400))
        #expect(RetryAfter.parse("120", now: 0) == .seconds(120))
        #expect(RetryAfter.parse("-1", now: 0) == nil)
    }

    @Test func httpDatesWithAbsurdYearsAreRefused() {
        #expect(RetryAfter.parse("Sun, 06 Nov 999999999999999 08:49:37 GMT", now: 0) == nil)
        #expect(RetryAfter.httpDate("Sun, 06 Nov 1994 08:49:37 GMT") == 784_111_777)
        #expect(RetryAfter.parse("Sun, 06 Nov 9999 08:49:37 GMT", now: 0) == .seconds(86_400))
    }

    @Test func durationConversionsSaturate() {
        #expect(Duration.seconds(Int64.max).wholeMilliseconds == Int64.max)
        #expect(Duration.seconds(Int64.min).wholeMilliseconds == Int64.min)
        #expect(Duration.seconds(Int64.max).wholeMicroseconds == Int64.max)
        #expect(Duration.milliseconds(1500).wholeMilliseconds == 1500)
        #expect(Duration.milliseconds(1500).wholeMicroseconds == 1_500_000)
    }
}
