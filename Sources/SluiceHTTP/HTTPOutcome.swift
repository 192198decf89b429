/// What an HTTP result means for the request that produced it. One table for every HTTP-based
/// connector, action executor and client (AWS, Kubernetes, credential providers), so a status is
/// retried or not the same way everywhere:
///
/// | answer | meaning | why |
/// |---|---|---|
/// | 2xx | success | |
/// | 408 Request Timeout | retryable | the server gave up waiting for the request; RFC 9110 §15.5.9: the client may repeat it |
/// | 425 Too Early | retryable | RFC 8470 §5.2: the request was sent in TLS early data; a new attempt is a full request |
/// | 429 Too Many Requests | retryable, honouring `Retry-After` | rate limited |
/// | 5xx | retryable, honouring `Retry-After` | server trouble, except: |
/// | 501 Not Implemented, 505 HTTP Version Not Supported | permanent | the same request gets the same answer |
/// | 1xx, 3xx (redirects are not followed unless asked), other 4xx | permanent | |
/// | transport error | `HTTPClientError.isRetriable` | network trouble passes; TLS, malformed request, refused address do not |
public enum HTTPOutcome: Sendable {
    case success(HTTPResponse)
    case retryable(String, retryAfter: Duration?)
    case permanent(String)

    /// How a status is classified (see the table above).
    public enum StatusClass: Sendable, Equatable {
        case success, retryable, permanent
    }

    public static func statusClass(_ status: Int) -> StatusClass {
        switch status {
        case 200..<300: return .success
        case 501, 505: return .permanent
        case 408, 425, 429, 500..<600: return .retryable
        default: return .permanent
        }
    }

    /// Classifies a client result. Messages say `HTTP <status>`, with the first 200 characters of
    /// the body for a permanent answer (vendors explain rejections there); callers that hold
    /// credentials scrub them from the message (`SecretScrubber`).
    public init(_ result: Result<HTTPResponse, HTTPClientError>) {
        switch result {
        case .success(let response):
            switch HTTPOutcome.statusClass(response.status) {
            case .success: self = .success(response)
            case .retryable: self = .retryable("HTTP \(response.status)", retryAfter: response.retryAfter)
            case .permanent:
                let body = response.bodyText.prefix(200)
                self = .permanent("HTTP \(response.status)\(body.isEmpty ? "" : ": \(body)")")
            }
        case .failure(let error):
            self = error.isRetriable ? .retryable(error.description, retryAfter: nil) : .permanent(error.description)
        }
    }
}
