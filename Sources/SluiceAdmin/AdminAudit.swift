import Logging

/// One write through the admin server: who (the token's name), what, and how it ended.
public struct AdminAuditRecord: Sendable, Equatable {
    public var principal: String
    public var role: AdminRole
    public var method: String
    public var path: String
    public var status: Int
}

/// Where audit records go. The default logs them at `notice`; the state module may add a topic.
public protocol AdminAuditSink: Sendable {
    func record(_ entry: AdminAuditRecord)
}

/// Audit records as structured log lines (`admin.principal`, `http.method`, ...), never a token.
public struct LoggingAuditSink: AdminAuditSink {
    let logger: Logger
    public init(logger: Logger) { self.logger = logger }
    public func record(_ entry: AdminAuditRecord) {
        logger.notice("admin write", metadata: [
            "admin.principal": "\(entry.principal)", "admin.role": "\(entry.role.rawValue)",
            "http.method": "\(entry.method)", "http.path": "\(entry.path)", "http.status": "\(entry.status)",
        ])
    }
}
