import Foundation
import SluiceCore
import SluiceTestSupport
import Testing
@testable import SluiceFormats

@Suite struct FindingDecoderTests {
    @Test func anEventsOwnSluiceNeverSpoofsTheView() throws {
        let spoof = #"{"sluice":{"severity_id":6,"format":"asff"},"rule":"r","output":"o","priority":"Notice","time":"2025-01-01T00:00:00Z"}"#
        let got = try FindingDecoder().decodeOwned(Array(spoof.utf8)).get()
        #expect(got.count == 1)
        #expect(got[0].event["sluice"]?["severity_id"] == 2)
        #expect(got[0].event["sluice"]?["format"] == "falco")
        #expect(got[0].event.objectValue?.filter { $0.key == "sluice" }.count == 1)
        // A record of no known format loses its own `sluice` too.
        let unknown = try FindingDecoder().decodeOwned(Array(#"{"a":1,"sluice":{"severity_id":6}}"#.utf8)).get()
        #expect(unknown.count == 1 && unknown[0].event["sluice"] == nil && unknown[0].view == nil)
        // Even with the view off (no route reads it), the record's own key is dropped.
        let off = try FindingDecoder(injectsView: false).decodeOwned(Array(spoof.utf8)).get()
        #expect(off[0].event["sluice"] == nil)
    }

    /// Issue 11: a rejected event names its size or depth and the setting that limits it (what
    /// `sluice test` prints and a dead letter's `error` carries), not simdjson's own words.
    @Test func aRejectionNamesTheLimitAndItsSetting() throws {
        let decoder = FindingDecoder(limits: DecodeLimits(maxBytes: 1024, maxDepth: 8))
        let big = #"{"rule":"r","output":""# + String(repeating: "x", count: 2000) + #""}"#
        let tooLarge = decoder.decode(big) { _ in Issue.record("a 2 KB event passed a 1 KB limit") }
        #expect(tooLarge?.reason == "too_large")
        #expect(tooLarge?.detail == "2024 bytes, over the limit of 1024 set by max_message_bytes")
        let deep = String(repeating: #"{"a":"#, count: 10) + "1" + String(repeating: "}", count: 10)
        let tooDeep = decoder.decode(deep) { _ in Issue.record("10 levels passed a limit of 8") }
        #expect(tooDeep?.reason == "too_deep")
        #expect(tooDeep?.detail == "nested deeper than 8 levels, the limit set by max_depth")
    }

    @Test func bareGuardDutyIsWrappedAsEventBridgeWould() throws {
        let line = try #require(try Findings.examples().first)
        let enveloped = try JSON.parse(line)
        let bare = try #require(enveloped["detail"]).serialized()
        let fromBare = try FindingDecoder().decodeOwned(Array(bare.utf8)).get()
        let fromEnvelope = try FindingDecoder().decodeOwned(Array(line.utf8)).get()
        #expect(fromBare.count == 1 && fromEnvelope.count == 1)
        #expect(fromBare[0].event["detail-type"] == "GuardDuty Finding")
        #expect(fromBare[0].event["source"] == "aws.guardduty")
        #expect(fromBare[0].event["detail"] == enveloped["detail"])
        #expect(fromBare[0].view == fromEnvelope[0].view)
    }

    @Test func securityHubCustomActionIsSplitIntoItsFindings() throws {
        let bytes = try FindingViewTests.fixture("asff/04-custom-action-two-findings.json")
        let record = try JSON.parse(String(decoding: bytes, as: UTF8.self))
        let originals = try #require(record.value(atPath: "detail.findings")?.arrayValue)
        let got = try FindingDecoder().decodeOwned(bytes).get()
        #expect(got.count == 2)
        for (i, child) in got.enumerated() {
            #expect(child.event.value(atPath: "detail.findings")?.arrayValue == [originals[i]])
            #expect(child.event["source"] == "aws.securityhub")
            #expect(child.view?.part == FindingView.Part(index: i, count: 2))
            #expect(child.view?.via == "securityhub")
        }
        #expect(got.map { $0.view?.severityID } == [3, 2])
        let empty = #"{"source":"aws.securityhub","detail-type":"Security Hub Findings - Imported","detail":{"findings":[]}}"#
        #expect(try FindingDecoder().decodeOwned(Array(empty.utf8)).get().isEmpty)
    }

    /// A split part is the record with its array cut to one finding: a 1 MB record of a 500 KB
    /// field and 170,000 `{}` came to 85 GB of parts, decoded (and planned) one by one, before
    /// the next record. Beyond 16 × max_message_bytes of parts it is `too_large`, no part decoded;
    /// the hundred findings of a `BatchImportFindings` body still split.
    @Test func aSplitRecordBuiltToMultiplyItsOtherFieldsIsTooLarge() throws {
        let decoder = FindingDecoder()
        let padding = String(repeating: "x", count: 500_000)
        let elements = Array(repeating: "{}", count: 170_000).joined(separator: ",")
        let hostile = #"{"SchemaVersion":"2018-10-08","pad":""# + padding + #"","Findings":["# + elements + "]}"
        #expect(hostile.utf8.count < DecodeLimits.standard.maxBytes)
        var parts = 0
        let rejection = decoder.decode(hostile) { _ in parts += 1 }
        #expect(parts == 0)
        #expect(rejection?.reason == "too_large")
        #expect(rejection?.detail == "170000 findings, each with the record's other 500057 bytes, come to more than 16777216 bytes (16 × max_message_bytes)")

        let one = try FindingViewTests.fixture("asff/04-custom-action-two-findings.json")
        let finding = try #require(try JSON.parse(String(decoding: one, as: UTF8.self)).value(atPath: "detail.findings")?.arrayValue?.first)
        let batch = JSON.object([(key: "Findings", value: .array(Array(repeating: finding, count: 100)))]).serialized()
        #expect(try decoder.decodeOwned(Array(batch.utf8)).get().count == 100)
    }

    @Test func anExplicitFormatRejectsOtherRecords() throws {
        let falco = try FindingViewTests.fixture("falco/01-k8s-terminal-shell-sidekick.json")
        #expect(FindingDecoder(format: .falco).decode(falco) { _ in } == nil)
        let r = FindingDecoder(format: .asff).decode(falco) { _ in }
        #expect(r == .format(required: .asff, found: .falco))
        #expect(r?.reason == "format")
    }

    @Test func limitsAreTheRunLimits() {
        let decoder = FindingDecoder()
        #expect(decoder.decode([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D]) { _ in }?.reason == "invalid_utf8")
        let big = Array("{\"a\":\"\(String(repeating: "x", count: DecodeLimits.standard.maxBytes))\"}".utf8)
        #expect(decoder.decode(big) { _ in }?.reason == "too_large")
        let deep = Array((String(repeating: "{\"a\":", count: 100) + "1" + String(repeating: "}", count: 100)).utf8)
        #expect(decoder.decode(deep) { _ in }?.reason == "too_deep")
        #expect(decoder.decode(Array("[1]".utf8)) { _ in }?.reason == "not_json")
        #expect(decoder.decode(Array("{".utf8)) { _ in }?.reason == "not_json")
    }

    /// Each explicit input format requires the finding format of its name; `auto` none.
    @Test func anInputFormatRequiresTheFindingFormatOfItsName() {
        for input in InputFormat.allCases {
            #expect(input.required?.rawValue == (input == .auto ? nil : input.rawValue), "\(input)")
        }
        #expect(Set(InputFormat.allCases.compactMap(\.required)) == Set(FindingFormat.allCases))
    }
}
