import SluiceHTTP

/// A failed AWS call: the service's error (code and message from the XML or JSON error body),
/// a transport failure, unusable credentials or an unreadable response.
///
/// `code` is AWS's own (`InvalidInstanceID.NotFound`, `ThrottlingException`,
/// `QueueDoesNotExist`) for service errors and the transport's code name otherwise; `kind` is a
/// bounded set, fit for a metric label. Descriptions never carry credentials.
public struct AWSError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Where the failure came from, as a bounded set.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(name: String) { self.name = name }
        /// The service answered with an error.
        public static let service = Kind(name: "service")
        /// No HTTP answer came back (connection, TLS, timeout).
        public static let transport = Kind(name: "transport")
        /// No credentials could be resolved, or the credential source failed.
        public static let credentials = Kind(name: "credentials")
        /// A 2xx answer that could not be read.
        public static let invalidResponse = Kind(name: "invalid_response")
        /// A setting that can never work (unknown profile, missing region).
        public static let configuration = Kind(name: "configuration")
        public var description: String { name }
    }

    public let kind: Kind
    public let code: String
    public let message: String
    /// The HTTP status, when an answer came back.
    public let status: Int?
    public let requestID: String?
    public let retryAfter: Duration?
    /// Set by the creator: transport and credential errors decide it from their cause.
    private let retriableCause: Bool

    public init(kind: Kind, code: String, message: String, status: Int? = nil, requestID: String? = nil,
                retryAfter: Duration? = nil, retriable: Bool = false) {
        self.kind = kind
        self.code = code
        self.message = message
        self.status = status
        self.requestID = requestID
        self.retryAfter = retryAfter
        retriableCause = retriable
    }

    /// A service error from its code and HTTP status.
    public static func service(code: String, message: String, status: Int, requestID: String? = nil, retryAfter: Duration? = nil) -> AWSError {
        AWSError(kind: .service, code: code, message: message, status: status, requestID: requestID, retryAfter: retryAfter)
    }

    public static func transport(_ error: HTTPClientError) -> AWSError {
        AWSError(kind: .transport, code: error.code.name, message: error.detail, retriable: error.isRetriable)
    }

    public static func configuration(_ message: String) -> AWSError {
        AWSError(kind: .configuration, code: "InvalidConfiguration", message: message)
    }

    public static func credentials(_ message: String, retriable: Bool) -> AWSError {
        AWSError(kind: .credentials, code: "CredentialsUnavailable", message: message, retriable: retriable)
    }

    /// Whether the same call may succeed later: throttling, transient service errors, 5xx,
    /// expired temporary credentials (the cache is refreshed first), and transport failures
    /// that are not about the request itself.
    public var isRetriable: Bool {
        switch kind {
        case .service:
            if isThrottling || isExpiredCredentials || AWSError.transientCodes.contains(code) { return true }
            return status.map { HTTPOutcome.statusClass($0) == .retryable } ?? false
        case .invalidResponse: return true
        default: return retriableCause
        }
    }

    /// AWS asked us to slow down (botocore's list of throttling codes, plus HTTP 429).
    public var isThrottling: Bool {
        kind == .service && (AWSError.throttlingCodes.contains(code) || status == 429)
    }

    /// The temporary credentials have expired: fetch new ones and try again.
    public var isExpiredCredentials: Bool {
        kind == .service && ["ExpiredToken", "ExpiredTokenException", "RequestExpired"].contains(code)
    }

    /// Whether an error code alone says "try again later": for per-entry errors inside a 200
    /// answer (EventBridge `PutEvents` entries, Security Hub `FailedFindings`, SQS batch results).
    public static func isRetriable(code: String) -> Bool {
        throttlingCodes.contains(code) || transientCodes.contains(code)
    }

    static let throttlingCodes: Set<String> = [
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException", "TooManyRequestsException",
        "ProvisionedThroughputExceededException", "TransactionInProgressException", "RequestLimitExceeded",
        "BandwidthLimitExceeded", "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
        "EC2ThrottledException", "Throttled",
    ]

    static let transientCodes: Set<String> = [
        "RequestTimeout", "RequestTimeoutException", "InternalError", "InternalFailure", "InternalServerError",
        "InternalException", "ServiceUnavailable", "ServiceUnavailableException", "KMSInternalException",
        "InternalServiceError",
    ]

    public var description: String {
        var text = "\(code): \(message)"
        if let status { text += " (HTTP \(status))" }
        return text
    }
}
