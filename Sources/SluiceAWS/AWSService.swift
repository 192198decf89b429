/// What Sluice needs to know to call one AWS service: its signing name, endpoint prefix,
/// wire protocol details, and the id used by the SDKs' `AWS_ENDPOINT_URL_<ID>` variables.
public struct AWSService: Sendable, Hashable, CustomStringConvertible {
    /// The SigV4 service name (`aws:amz:<region>:<signingName>`).
    public let signingName: String
    /// The first label of the regional endpoint host (`sqs` in `sqs.eu-west-1.amazonaws.com`).
    public let endpointPrefix: String
    /// The SDKs' service id, upper-cased with underscores: `AWS_ENDPOINT_URL_SECURITYHUB`.
    public let environmentID: String
    /// Query protocol API version (`Version=`), for Query services.
    public let queryVersion: String?
    /// JSON protocol target prefix (`X-Amz-Target: <prefix>.<Operation>`) and version (`1.0`, `1.1`).
    public let jsonTargetPrefix: String?
    public let jsonVersion: String?
    /// Set for global services (IAM): the one endpoint host and the region requests are signed for.
    public let globalHost: String?
    public let globalSigningRegion: String?

    public init(signingName: String, endpointPrefix: String? = nil, environmentID: String, queryVersion: String? = nil,
                jsonTargetPrefix: String? = nil, jsonVersion: String? = nil, globalHost: String? = nil, globalSigningRegion: String? = nil) {
        self.signingName = signingName
        self.endpointPrefix = endpointPrefix ?? signingName
        self.environmentID = environmentID
        self.queryVersion = queryVersion
        self.jsonTargetPrefix = jsonTargetPrefix
        self.jsonVersion = jsonVersion
        self.globalHost = globalHost
        self.globalSigningRegion = globalSigningRegion
    }

    public var description: String { signingName }

    // Query protocol (form-encoded requests, XML responses).
    public static let ec2 = AWSService(signingName: "ec2", environmentID: "EC2", queryVersion: "2016-11-15")
    public static let iam = AWSService(signingName: "iam", environmentID: "IAM", queryVersion: "2010-05-08",
                                       globalHost: "iam.amazonaws.com", globalSigningRegion: "us-east-1")
    public static let sts = AWSService(signingName: "sts", environmentID: "STS", queryVersion: "2011-06-15")
    public static let sns = AWSService(signingName: "sns", environmentID: "SNS", queryVersion: "2010-03-31")
    public static let autoScaling = AWSService(signingName: "autoscaling", environmentID: "AUTO_SCALING", queryVersion: "2011-01-01")
    // JSON protocol (`X-Amz-Target`).
    public static let sqs = AWSService(signingName: "sqs", environmentID: "SQS", queryVersion: "2012-11-05",
                                       jsonTargetPrefix: "AmazonSQS", jsonVersion: "1.0")
    public static let ecs = AWSService(signingName: "ecs", environmentID: "ECS",
                                       jsonTargetPrefix: "AmazonEC2ContainerServiceV20141113", jsonVersion: "1.1")
    public static let eventBridge = AWSService(signingName: "events", environmentID: "EVENTBRIDGE",
                                               jsonTargetPrefix: "AWSEvents", jsonVersion: "1.1")
    public static let ssm = AWSService(signingName: "ssm", environmentID: "SSM", jsonTargetPrefix: "AmazonSSM", jsonVersion: "1.1")
    // REST-JSON (method + path).
    public static let securityHub = AWSService(signingName: "securityhub", environmentID: "SECURITYHUB")
    public static let eks = AWSService(signingName: "eks", environmentID: "EKS")

    /// Whether `s` has the shape of an AWS region name (`us-east-1`, `us-gov-west-1`): lowercase
    /// letter groups joined by `-`, ending in a number. A region becomes part of the endpoint's host,
    /// so one taken from a finding must pass this first ("x@evil.example/" would name the host).
    public static func isRegionName(_ s: String) -> Bool {
        let parts = s.utf8.split(separator: UInt8(ascii: "-"), omittingEmptySubsequences: false)
        guard parts.count >= 3, s.utf8.count <= 32, let last = parts.last, !last.isEmpty,
              last.allSatisfy({ (0x30...0x39).contains($0) }) else { return false }
        return parts.dropLast().allSatisfy { !$0.isEmpty && $0.allSatisfy { (0x61...0x7A).contains($0) } }
    }

    /// The service's public endpoint in `region` (`https://sqs.eu-west-1.amazonaws.com`).
    public func defaultEndpoint(region: String) -> String {
        let suffix = region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
        if let globalHost {
            if region.hasPrefix("cn-") { return "https://\(endpointPrefix).cn-north-1.\(suffix)" }
            if region.hasPrefix("us-gov-") { return "https://\(endpointPrefix).us-gov.amazonaws.com" }
            return "https://\(globalHost)"
        }
        return "https://\(endpointPrefix).\(region).\(suffix)"
    }

    /// The region requests are signed for: the client's, or the global service's own.
    public func signingRegion(for region: String) -> String {
        guard let globalSigningRegion else { return region }
        if region.hasPrefix("cn-") { return "cn-north-1" }
        if region.hasPrefix("us-gov-") { return "us-gov-west-1" }
        return globalSigningRegion
    }
}
