import FuzzSupport
import SluiceActions
import SluiceCore
import SluiceKafka
@testable import SluiceReplay
import SluiceState

/// Records Sluice reads back from its own Kafka topics: anyone who can write to the broker can
/// write them too, so each is outside data. Any bytes go through every reader: the state
/// changelog (key, then value after the first 0x01 byte: keys hold a NUL), held items, the guard ledger, silences,
/// approvals, action audit records, replay progress, and a dead letter's headers. Properties
/// besides "no trap": a record that reads back writes again as a record that reads back the same.
// libFuzzer calls back from one thread only.
nonisolated(unsafe) var ledger = LedgerState()

func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = FuzzDriver.bytes(data, count)
    let cut = bytes.firstIndex(of: 0x01)
    let key = Array(bytes[..<(cut ?? bytes.endIndex)])
    let value = cut.map { Array(bytes[($0 + 1)...]) } ?? []
    if let change = StateCodec.decode(key: key, value: value.isEmpty ? nil : value) {
        _ = StateCodec.value(change)
    }
    if let item = HoldItemCodec.decode(bytes) {
        let again = HoldItemCodec.encode(item)
        if HoldItemCodec.decode(again) == nil { FuzzDriver.violated("a held item does not read back after writing it again") }
    }
    if let op = GuardLedger.decode(bytes), GuardLedger.decode(GuardLedger.value(op)) == nil {
        FuzzDriver.violated("a guard ledger record does not read back after writing it again")
    }
    if let json = try? JSON.parse(String(decoding: bytes, as: UTF8.self)) {
        if let silence = Silence(json: json), Silence(json: silence.json) != silence {
            FuzzDriver.violated("a silence does not read back the same")
        }
        if let run = RunState(json: json) { _ = RunState(json: run.json) }
        _ = ActionAuditRecord(json: json)
    }
    _ = ledger.apply(record: bytes)
    if ledger.entries.count + ledger.summaries.count > 10_000 { ledger = LedgerState() }
    let headers = value.split(separator: 0x0A).map { line -> KafkaHeader in
        let parts = line.split(separator: 0x3D, maxSplits: 1)  // name=value
        return KafkaHeader(name: String(decoding: parts.first ?? [], as: UTF8.self), value: parts.count > 1 ? Array(parts[1]) : nil)
    }
    let letter = DeadLetterRecord(KafkaRecord(topic: "dlq", partition: 0, offset: 0, key: nil, value: key, headers: headers))
    _ = letter.json()
    _ = letter.findingJSON
    return 0
}

@_cdecl("FuzzTopicRecords_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.run(argc, argv) { fuzzOne($0, $1) }
}

@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt { fuzzOne(data, count) }
