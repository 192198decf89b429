import SluiceCore
import Testing

/// Day counts checked against Python's `datetime.date` (proleptic Gregorian), leap days and
/// both ends of years 1–9999 included.
@Suite struct CivilDateTests {
    static let known: [(String, Int64, Int64, Int64, Int64)] = [
        ("1970-01-01", 1970, 1, 1, 0), ("1969-12-31", 1969, 12, 31, -1),
        ("2000-02-29", 2000, 2, 29, 11016), ("2000-03-01", 2000, 3, 1, 11017),
        ("2025-05-12", 2025, 5, 12, 20220), ("1600-02-29", 1600, 2, 29, -135081),
        ("0001-01-01", 1, 1, 1, -719162), ("9999-12-31", 9999, 12, 31, 2932896),
    ]

    @Test(arguments: known) func daysAndBack(_ row: (String, Int64, Int64, Int64, Int64)) {
        let (_, y, m, d, days) = row
        #expect(CivilDate.days(year: y, month: m, day: d) == days)
        let back = CivilDate.date(days: days)
        #expect(back.year == y && back.month == m && back.day == d)
    }

    @Test func everyDayOfFourCenturiesRoundTrips() {
        for days in Int64(-146_097)...Int64(146_097) {
            let (y, m, d) = CivilDate.date(days: days)
            #expect((1...12).contains(m) && (1...31).contains(d))
            if CivilDate.days(year: y, month: m, day: d) != days { Issue.record("\(days) → \(y)-\(m)-\(d)"); return }
        }
    }
}
