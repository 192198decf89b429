import CRdKafka

/// A librdkafka client handle passed to a poll thread. rd_kafka_t is documented thread-safe for
/// the calls Sluice makes from other threads (poll, produce, offsets_store, pause/resume).
struct RawHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

extension String {
    /// Text of a NUL-terminated C error buffer.
    init(errorBuffer: [CChar]) {
        self = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

import Synchronization

/// A flag shared between a client and its poll thread.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
