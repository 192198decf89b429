import Foundation
import SluiceGuardDuty
import Synchronization
import Testing
@testable import SluiceCore

/// Issue 10, points 1, 10 and 11: numbers from outside (a finding, a target's reply, a config
/// file) never trap, and YAML and value lists load in bounded time. Each test here trapped or ran
/// away before its fix.
@Suite struct CrashSafetyTests {
    @Test func doublesOutsideTheIntegerRangeClampInsteadOfTrapping() {
        #expect(Int(clamping: 1e300) == Int.max)
        #expect(Int(clamping: -1e300) == Int.min)
        #expect(Int(clamping: Double.infinity) == Int.max)
        #expect(Int(clamping: -Double.infinity) == Int.min)
        #expect(Int(clamping: Double.nan) == 0)
        #expect(Int(clamping: 9_223_372_036_854_775_808.0) == Int.max)  // 2^63, one past Int.max
        #expect(Int(clamping: 2.9) == 2)
        #expect(Int(clamping: -2.9) == -2)
        #expect(Int32(clamping: 3e9) == Int32.max)
        #expect(UInt8(clamping: -1.0) == 0)
    }

    @Test func findingSummaryClampsCountAndPidAndKeepsAHugeSeverity() throws {
        let event = try JSON.parse(#"""
            {"detail": {"id": "poison", "type": "Execution:Runtime/ReverseShell", "severity": 1e300,
             "resource": {"resourceType": "Instance"},
             "service": {"count": 1e300, "runtimeDetails": {"process": {"name": "sh", "pid": -1e300}}}}}
            """#)
        let s = try #require(FindingSummary(event: event))
        #expect(s.count == Int.max)
        #expect(s.process?.pid == Int.min)
        #expect(s.severity == 1e300)
        #expect(s.severityLabel == .critical)
        #expect(s.templateContext["count"] as? Int == Int.max)
    }

    @Test func numbersPrintWithoutTrapping() {
        #expect(JSON.numberText(8) == "8")
        #expect(JSON.numberText(5.3) == "5.3")
        #expect(JSON.numberText(-0.5) == "-0.5")
        #expect(JSON.numberText(1e300) == "1e+300")
        #expect(JSON.numberText(-1e300) == "-1e+300")
        #expect(JSON.number(1e300).serialized() == "1e+300")
    }

    @Test func aDurationBeyondTenYearsIsAValidationErrorAtItsPosition() throws {
        let root = try #require(try YAMLNode.load(path: "c.yaml", text: "name: x\ntimeout: 99999999999999999999s\n", environment: [:]))
        let r = MappingReader(root, what: "connector")
        r.allow("name")
        #expect(r.duration("timeout") == nil)
        let problems = r.finish()
        #expect(problems.count == 1)
        let d = try #require(problems.first)
        #expect(d.path == "c.yaml" && d.line == 2 && d.column == 10)
        #expect(d.message == "'timeout' is out of range: at most 3650d")
    }

    @Test func durationTextNeverTraps() {
        #expect(DurationText.parse("1e300s") == nil)
        #expect(DurationText.parse("99999999999999999999d") == nil)
        #expect(DurationText.parse("3650d") == .seconds(3650 * 86_400))
        #expect(DurationText.parse("3651d") == nil)
        #expect(DurationText.isOutOfRange("3651d"))
        #expect(!DurationText.isOutOfRange("soon"))
        #expect(DurationText.parse("1.5s") == .milliseconds(1500))
    }

    @Test func nonFiniteConfigNumbersAreErrors() throws {
        let root = try #require(try YAMLNode.load(path: "c.yaml", text: "rate: .inf\nburst: nan\n", environment: [:]))
        let r = MappingReader(root, what: "connector")
        #expect(r.double("rate") == nil)
        #expect(r.double("burst") == nil)
        #expect(r.finish().map(\.line) == [1, 2])
    }

    // MARK: Point 10: YAML alias bomb

    /// Nine levels of nine aliases: 9^9 (387 million) scalars once expanded, in 12 lines.
    static let aliasBomb = """
        a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
        b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
        c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
        d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
        e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
        f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
        g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
        h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
        i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
        name: bomb
        match: {source: *i}
        targets: [hook]
        """

    @Test func anAliasBombIsRefusedAtTheValueThatExplodes() {
        #expect(Self.aliasBomb.split(separator: "\n").count == 12)
        do {
            _ = try RouteLoader.load(path: "routes/bomb.yaml", text: Self.aliasBomb, environment: [:])
            Issue.record("the bomb loaded")
        } catch {
            // The root mapping and a..f with their keys: 672,610 nodes; g's first *f adds 597,871:
            // over the bound at that alias, line 7 column 8.
            #expect(error.items.count == 1)
            let d = error.items[0]
            #expect(d.path == "routes/bomb.yaml" && d.line == 7 && d.column == 8)
            #expect(d.message.contains("more than 1000000 YAML nodes"))
        }
    }

    /// An alias as a mapping key made Yams hash the whole expansion while composing, before any
    /// check after composing could run.
    @Test func anAliasBombAsAMappingKeyIsRefusedBeforeYamsComposesIt() {
        let lines = Self.aliasBomb.split(separator: "\n").prefix(9) + ["? *i", ": x", "name: bomb"]
        do {
            _ = try RouteLoader.load(path: "routes/bomb.yaml", text: lines.joined(separator: "\n"), environment: [:])
            Issue.record("the bomb loaded")
        } catch {
            #expect(error.items.map { "\($0.line):\($0.column)" } == ["7:8"])
        }
    }

    @Test func aliasesWithinTheBoundStillLoad() throws {
        let routes = try RouteLoader.load(path: "routes/a.yaml", text: """
            routes:
              - {name: one, match: {source: &sources [aws.guardduty]}, targets: [hook]}
              - {name: two, match: {source: *sources}, targets: [hook]}
            """, environment: [:])
        #expect(routes.map(\.name) == ["one", "two"])
    }

    // MARK: Point 11: value lists

    @Test func aValueListOf40000ItemsLoadsDeDuplicatedInFirstSeenOrder() throws {
        // 20,000 distinct addresses, each written twice (the second time further down the list).
        let distinct = (0..<20_000).map { "10.\($0 >> 8 & 255).\($0 & 255).\($0 % 7)" }
        let list = distinct + distinct.reversed()
        #expect(list.count == 40_000)
        let pattern = try Pattern(json: TrustedIPList.pattern(cidrs: list, fields: ["detail.ip"]))
        let matchers = try #require(pattern.branches.first?.fields.first?.matchers)
        #expect(matchers.count == 20_000)
        #expect(matchers.first == .cidr(try IPRange(cidr: distinct[0])))
        #expect(matchers.last == .cidr(try IPRange(cidr: distinct[19_999])))
        let inList = try JSON.parse(#"{"detail": {"ip": "10.3.232.6"}}"#)
        let outside = try JSON.parse(#"{"detail": {"ip": "10.3.232.5"}}"#)
        #expect(ReferenceMatcher.matches(pattern, inList))
        #expect(!ReferenceMatcher.matches(pattern, outside))
    }

    /// An item that counts how often it is compared: a quadratic de-duplication compares each item
    /// with those kept before it (~n²/4 for this list, 400 million), a hashed one about once.
    struct CountedItem: Hashable {
        static let comparisons = Atomic<Int>(0)
        let value: Int
        static func == (a: CountedItem, b: CountedItem) -> Bool {
            comparisons.add(1, ordering: .relaxed)
            return a.value == b.value
        }
        func hash(into hasher: inout Hasher) { hasher.combine(value) }
    }

    @Test func valueListDeDuplicationComparesEachItemAboutOnce() {
        let distinct = (0..<20_000).map { CountedItem(value: $0 * 7919) }
        let list = distinct + distinct.reversed()
        CountedItem.comparisons.store(0, ordering: .relaxed)
        let unique = PatternParser.firstOccurrences(list)
        let comparisons = CountedItem.comparisons.load(ordering: .relaxed)
        #expect(unique.map(\.value) == distinct.map(\.value))
        // Each repeat meets its first occurrence once; hash collisions add a few more, never n² of them.
        #expect(comparisons <= 2 * list.count, "\(comparisons) comparisons for \(list.count) items")
    }
}
