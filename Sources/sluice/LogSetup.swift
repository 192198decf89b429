import Foundation
import Logging
import SluiceCore

/// The executable alone bootstraps logging: text to stderr, or JSON lines with `--log-json`.
enum LogSetup {
    static func bootstrap(level: Logger.Level, json: Bool) {
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// One JSON object per line on stderr: time, level, label, message and metadata.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [String: String] = [:]
        for (k, v) in metadata { fields[k] = "\(v)" }
        for (k, v) in event.metadata ?? [:] { fields[k] = "\(v)" }
        var out = "{\"time\":\"\(ISO8601DateFormatter().string(from: Date()))\",\"level\":\"\(event.level)\",\"label\":"
        JSON.writeString(label, to: &out)
        out += ",\"message\":"
        JSON.writeString("\(event.message)", to: &out)
        for (k, v) in fields.sorted(by: { $0.key < $1.key }) {
            out += ","
            JSON.writeString(k, to: &out)
            out += ":"
            JSON.writeString(v, to: &out)
        }
        out += "}\n"
        FileHandle.standardError.write(Data(out.utf8))
    }
}
