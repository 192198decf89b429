import SluiceAWS
import SluiceCore
import SluiceHTTP
import Synchronization

/// AWS clients for the AWS executors, one per region (a finding's region wins over the
/// configured default), built from the `actions.aws` settings and cached.
public final class AWSClients: Sendable {
    let settings: AWSSettings
    let http: HTTPClient
    let environment: [String: String]
    /// Per AWS call. Tests against a shared moto on a loaded machine give more than the default.
    let timeout: Duration
    private let clients = Mutex<[String: AWSClient]>([:])

    public init(settings: AWSSettings, http: HTTPClient, environment: [String: String], timeout: Duration = .seconds(10)) {
        self.settings = settings
        self.http = http
        self.environment = environment
        self.timeout = timeout
    }

    /// The client for `region` (nil: the configured or environment default).
    public func client(region: String?) throws(ActionError) -> AWSClient {
        // The region may come from the finding and becomes the endpoint's host: never any text.
        if let region, !AWSService.isRegionName(region) { throw .permanent("the region is not an AWS region name") }
        let key = region ?? ""
        if let c = clients.withLock({ $0[key] }) { return c }
        var s = settings
        if let region { s.region = region }
        let c: AWSClient
        do { c = try s.makeClient(http: http, environment: environment, timeout: timeout) } catch { throw .permanent(error.description) }
        clients.withLock { $0[key] = c }
        return c
    }

    /// The region a step acts in: its `region` parameter, else the finding's, else the default.
    func client(for request: ActionRequest) throws(ActionError) -> AWSClient {
        try client(region: request.parameters.string("region") ?? request.findingString("detail.region") ?? request.findingString("region"))
    }
}

extension ActionError {
    /// AWS errors keep AWS's code and message; throttling, 5xx and transport failures are retryable.
    init(_ error: AWSError) {
        self.init(error.description, retryable: error.isRetriable)
    }
}

/// `Key=Value` tags from a `tagSet` of an EC2 answer.
func ec2Tags(_ tree: XMLTree?) -> [String: String] {
    var out: [String: String] = [:]
    for item in tree?.all("item") ?? [] {
        if let k = item.text("key") { out[k] = item.text("value") ?? "" }
    }
    return out
}

/// Flattened Query members for a list (`InstanceId.1`, `InstanceId.2`…).
func queryList(_ name: String, _ values: [String]) -> [(String, String)] {
    values.enumerated().map { ("\(name).\($0.offset + 1)", $0.element) }
}

func queryTags(_ tags: [(String, String)]) -> [(String, String)] {
    tags.enumerated().flatMap { i, t in [("Tag.\(i + 1).Key", t.0), ("Tag.\(i + 1).Value", t.1)] }
}

/// What the EC2 executors need to know about an instance, from one DescribeInstances call.
struct EC2Instance: Sendable, Equatable {
    var id: String
    var vpcID: String?
    var state: String
    var tags: [String: String]
    var networkInterfaces: [(id: String, groups: [String])]
    /// The interface at device index 0, whose groups are also the instance's groups.
    var primaryInterface: String?
    var volumes: [String]

    static func == (a: EC2Instance, b: EC2Instance) -> Bool {
        a.id == b.id && a.vpcID == b.vpcID && a.tags == b.tags && a.volumes == b.volumes
            && a.networkInterfaces.map(\.id) == b.networkInterfaces.map(\.id) && a.networkInterfaces.map(\.groups) == b.networkInterfaces.map(\.groups)
    }

    /// Parses a DescribeInstances answer (pure: tested on recorded XML).
    static func parse(_ root: XMLTree) -> EC2Instance? {
        guard let item = root["reservationSet/item/instancesSet/item"], let id = item.text("instanceId") else { return nil }
        let enis = item.all("networkInterfaceSet/item").compactMap { eni -> (id: String, groups: [String])? in
            guard let eid = eni.text("networkInterfaceId") else { return nil }
            return (eid, eni.all("groupSet/item").compactMap { $0.text("groupId") })
        }
        let primary = item.all("networkInterfaceSet/item").first { $0.text("attachment/deviceIndex") == "0" }?.text("networkInterfaceId")
        return EC2Instance(
            id: id, vpcID: item.text("vpcId"), state: item.text("instanceState/name") ?? "", tags: ec2Tags(item["tagSet"]),
            networkInterfaces: enis, primaryInterface: primary ?? enis.first?.id,
            volumes: item.all("blockDeviceMapping/item").compactMap { $0.text("ebs/volumeId") })
    }

    static func describe(_ id: String, client: AWSClient) async throws(ActionError) -> EC2Instance {
        let root: XMLTree
        do { root = try await client.query(.ec2, action: "DescribeInstances", parameters: queryList("InstanceId", [id])) } catch {
            throw ActionError(error)
        }
        guard let instance = parse(root) else { throw .permanent("instance \(id) not found") }
        return instance
    }

    func target(account: String?, region: String) -> ActionTarget {
        ActionTarget(kind: "ec2:instance", id: id, account: account, region: region, tags: tags)
    }

    /// The instance a step would act on, from the finding alone (dry runs, `sluice test`).
    static func plannedTarget(of request: ActionRequest) throws(ActionError) -> PlannedTarget {
        PlannedTarget(ActionTarget(kind: "ec2:instance", id: try instanceID(request),
                                   account: request.findingString("detail.accountId") ?? request.findingString("account"),
                                   region: plannedRegion(request)),
                      unresolved: ["instance tags (protected-tag guard) and state: looked up when the step runs"])
    }

    /// The instance a step acts on, looked up live (its tags feed the protected-tag guard).
    static func target(of request: ActionRequest, aws: AWSClients) async throws(ActionError) -> ActionTarget {
        let client = try aws.client(for: request)
        let instance = try await describe(try instanceID(request), client: client)
        return instance.target(account: request.findingString("detail.accountId") ?? request.findingString("account"), region: client.region)
    }
}

/// An executor that acts on the finding's EC2 instance (or the step's `instance_id`): its target is
/// looked up live, and a dry run names it from the finding alone.
public protocol EC2InstanceExecutor: ActionExecutor {
    var aws: AWSClients { get }
}

extension EC2InstanceExecutor {
    public func target(_ request: ActionRequest) async throws(ActionError) -> ActionTarget {
        try await EC2Instance.target(of: request, aws: aws)
    }

    public static func plannedTarget(_ request: ActionRequest) throws(ActionError) -> PlannedTarget? {
        try EC2Instance.plannedTarget(of: request)
    }
}

/// The region a step would act in without a client: its `region` parameter, else the finding's
/// (nil: the configured default).
func plannedRegion(_ request: ActionRequest) -> String? {
    request.parameters.string("region") ?? request.findingString("detail.region") ?? request.findingString("region")
}

/// The EC2 instance a finding names (`detail.resource.instanceDetails.instanceId`), unless the
/// step gives `instance_id`.
func instanceID(_ request: ActionRequest) throws(ActionError) -> String {
    guard let id = request.parameters.string("instance_id") ?? request.findingString("detail.resource.instanceDetails.instanceId") else {
        throw .permanent("no instance id: the finding names no EC2 instance and the step gives no instance_id")
    }
    return id
}

func ec2Call(_ client: AWSClient, _ action: String, _ parameters: [(String, String)]) async throws(ActionError) -> XMLTree {
    do { return try await client.query(.ec2, action: action, parameters: parameters) } catch { throw ActionError(error) }
}
