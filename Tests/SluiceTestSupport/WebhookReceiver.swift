import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The real local HTTP receiver (scripts/receivers/webhook_receiver.py) in a subprocess on a free
/// loopback port, recording accepted requests to a file. Stopped by the test that started it.
public final class WebhookReceiver: @unchecked Sendable {
    // @unchecked: the process is touched only by init/stop, which a test calls in order.
    public let port: Int
    public var url: String { "http://127.0.0.1:\(port)" }
    public let recordFile: URL
    private let process: Process

    public struct Request: Sendable {
        public let method: String
        public let path: String
        public let headers: [String: String]
        public let body: String
    }

    public init() throws {
        recordFile = FileManager.default.temporaryDirectory.appendingPathComponent("receiver-\(UUID().uuidString).ndjson")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-u", PackagePaths.root.appendingPathComponent("scripts/receivers/webhook_receiver.py").path,
                       "--port", "0", "--record", recordFile.path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        guard line.hasPrefix("LISTENING "), let port = Int(line.dropFirst(10).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            ChildProcess.stop(p)
            throw HarnessError("receiver did not start: \(line)")
        }
        self.port = port
        process = p
    }

    public func records() throws -> [Request] {
        guard let data = FileManager.default.contents(atPath: recordFile.path) else { return [] }
        return try data.split(separator: UInt8(ascii: "\n")).map { line in
            let o = try JSONSerialization.jsonObject(with: Data(line)) as! [String: Any]
            return Request(method: o["method"] as! String, path: o["path"] as! String,
                           headers: o["headers"] as? [String: String] ?? [:], body: o["body"] as! String)
        }
    }

    public var count: Int { (try? records().count) ?? 0 }

    /// Changes the status answered from now on (and an optional Retry-After in seconds).
    public func setStatus(_ status: Int, retryAfter: Int? = nil) async throws {
        var req = URLRequest(url: URL(string: url + "/_control/status")!)
        req.httpMethod = "POST"
        var body: [String: Any] = ["status": status]
        body["retry_after"] = retryAfter ?? NSNull()
        req.httpBody = try JSONSerialization.data(withJSONObject: body)
        _ = try await URLSession.shared.data(for: req)
    }

    public func stop() {
        ChildProcess.stop(process)
        try? FileManager.default.removeItem(at: recordFile)
    }

    deinit { stop() }
}
