import SluiceCore

/// The shape of a GuardDuty finding as it arrives in an EventBridge event's `detail`, from the
/// GuardDuty API's service model (botocore 1.43.11, `guardduty/2017-11-28`, wire names). The
/// route lint and the template check use it to flag paths a finding cannot have
/// (`detail.resourceType` instead of `detail.resource.resourceType`) and values of the wrong type
/// (`severity: ["8"]`). Structures the table does not describe are open: any path below them passes.
public enum GuardDutyFindingModel {
    public typealias Shape = FindingFieldShape

    /// The model as the engine reads it (`FindingFieldModels.register`): the route lint on
    /// patterns with `source: aws.guardduty` and the template check on `{{detail.…}}`.
    public static let fieldModel: any FindingFieldModel = Model()

    struct Model: FindingFieldModel {
        var productName: String { "GuardDuty" }
        var sources: Set<String> { ["aws.guardduty"] }
        var templateRoot: String { "detail" }
        func shape(at path: [String]) -> FindingFieldShape? { GuardDutyFindingModel.shape(at: path) }
        func members(ofStructure name: String) -> [String]? { structures[name].map { Array($0.keys) } }
        func paths(endingWith key: String, limit: Int) -> [String] { GuardDutyFindingModel.paths(endingWith: key, limit: limit) }
        var remoteAddressFields: [String] { GuardDutyFindingModel.remoteAddressFields }
    }

    /// Where a GuardDuty finding names the remote party's address, by action type.
    public static let remoteAddressFields = [
        "detail.service.action.networkConnectionAction.remoteIpDetails.ipAddressV4",
        "detail.service.action.networkConnectionAction.remoteIpDetails.ipAddressV6",
        "detail.service.action.awsApiCallAction.remoteIpDetails.ipAddressV4",
        "detail.service.action.awsApiCallAction.remoteIpDetails.ipAddressV6",
        "detail.service.action.portProbeAction.portProbeDetails.remoteIpDetails.ipAddressV4",
        "detail.service.action.kubernetesApiCallAction.remoteIpDetails.ipAddressV4",
        "detail.service.action.rdsLoginAttemptAction.remoteIpDetails.ipAddressV4",
    ]

    /// The EventBridge envelope around the finding.
    public static let envelope: [String: Shape] = [
        "version": .string, "id": .string, "detail-type": .string, "source": .string, "account": .string,
        "time": .string, "region": .string, "resources": .list(.string), "detail": .structure("Finding"),
    ]

    /// Structures by name: member wire name → shape.
    public static let structures: [String: [String: Shape]] = [
        "Finding": ["accountId": .string, "arn": .string, "confidence": .number, "createdAt": .string, "description": .string, "id": .string, "partition": .string, "region": .string, "resource": .structure("Resource"), "schemaVersion": .string, "service": .structure("Service"), "severity": .number, "title": .string, "type": .string, "updatedAt": .string, "associatedAttackSequenceArn": .string],
        "Resource": ["accessKeyDetails": .structure("AccessKeyDetails"), "s3BucketDetails": .list(.structure("S3BucketDetail")), "instanceDetails": .structure("InstanceDetails"), "eksClusterDetails": .structure("EksClusterDetails"), "kubernetesDetails": .structure("KubernetesDetails"), "resourceType": .string, "ebsVolumeDetails": .structure("EbsVolumeDetails"), "ecsClusterDetails": .structure("EcsClusterDetails"), "containerDetails": .structure("Container"), "lambdaDetails": .structure("LambdaDetails"), "rdsDbInstanceDetails": .structure("RdsDbInstanceDetails"), "rdsLimitlessDbDetails": .structure("RdsLimitlessDbDetails"), "rdsDbUserDetails": .structure("RdsDbUserDetails"), "ebsSnapshotDetails": .structure("EbsSnapshotDetails"), "ec2ImageDetails": .structure("Ec2ImageDetails"), "recoveryPointDetails": .structure("RecoveryPointDetails")],
        "Service": ["action": .structure("Action"), "evidence": .structure("Evidence"), "archived": .bool, "count": .number, "detectorId": .string, "eventFirstSeen": .string, "eventLastSeen": .string, "resourceRole": .string, "serviceName": .string, "userFeedback": .string, "additionalInfo": .structure("ServiceAdditionalInfo"), "featureName": .string, "ebsVolumeScanDetails": .structure("EbsVolumeScanDetails"), "runtimeDetails": .structure("RuntimeDetails"), "detection": .structure("Detection"), "malwareScanDetails": .structure("MalwareScanDetails")],
        "RuntimeDetails": ["process": .structure("ProcessDetails"), "context": .structure("RuntimeContext")],
        "ProcessDetails": ["name": .string, "executablePath": .string, "executableSha256": .string, "namespacePid": .number, "pwd": .string, "pid": .number, "startTime": .number, "uuid": .string, "parentUuid": .string, "user": .string, "userId": .number, "euid": .number, "lineage": .list(.structure("LineageObject"))],
        "RuntimeContext": ["modifyingProcess": .structure("ProcessDetails"), "modifiedAt": .number, "scriptPath": .string, "libraryPath": .string, "ldPreloadValue": .string, "socketPath": .string, "runcBinaryPath": .string, "releaseAgentPath": .string, "mountSource": .string, "mountTarget": .string, "fileSystemType": .string, "flags": .list(.string), "moduleName": .string, "moduleFilePath": .string, "moduleSha256": .string, "shellHistoryFilePath": .string, "targetProcess": .structure("ProcessDetails"), "addressFamily": .string, "ianaProtocolNumber": .number, "memoryRegions": .list(.string), "toolName": .string, "toolCategory": .string, "serviceName": .string, "commandLineExample": .string, "threatFilePath": .string],
        "LineageObject": ["startTime": .number, "namespacePid": .number, "userId": .number, "name": .string, "pid": .number, "uuid": .string, "executablePath": .string, "euid": .number, "parentUuid": .string],
        "Action": ["actionType": .string, "awsApiCallAction": .structure("AwsApiCallAction"), "dnsRequestAction": .structure("DnsRequestAction"), "networkConnectionAction": .structure("NetworkConnectionAction"), "portProbeAction": .structure("PortProbeAction"), "kubernetesApiCallAction": .structure("KubernetesApiCallAction"), "kubernetesPermissionCheckedDetails": .structure("KubernetesPermissionCheckedDetails"), "kubernetesRoleBindingDetails": .structure("KubernetesRoleBindingDetails"), "kubernetesRoleDetails": .structure("KubernetesRoleDetails"), "rdsLoginAttemptAction": .structure("RdsLoginAttemptAction")],
        "ServiceAdditionalInfo": [:],
        "Container": ["containerRuntime": .string, "id": .string, "name": .string, "image": .string, "imagePrefix": .string, "volumeMounts": .list(.structure("VolumeMount")), "securityContext": .structure("SecurityContext")],
        "SecurityContext": ["privileged": .bool, "allowPrivilegeEscalation": .bool],
        "VolumeMount": ["name": .string, "mountPath": .string],
        "EcsClusterDetails": ["name": .string, "arn": .string, "status": .string, "activeServicesCount": .number, "registeredContainerInstancesCount": .number, "runningTasksCount": .number, "tags": .list(.structure("Tag")), "taskDetails": .structure("EcsTaskDetails")],
        "EcsTaskDetails": ["arn": .string, "definitionArn": .string, "version": .string, "createdAt": .number, "startedAt": .number, "startedBy": .string, "tags": .list(.structure("Tag")), "volumes": .list(.structure("Volume")), "containers": .list(.structure("Container")), "group": .string, "launchType": .string],
        "EksClusterDetails": ["name": .string, "arn": .string, "vpcId": .string, "status": .string, "tags": .list(.structure("Tag")), "createdAt": .number],
        "KubernetesDetails": ["kubernetesUserDetails": .structure("KubernetesUserDetails"), "kubernetesWorkloadDetails": .structure("KubernetesWorkloadDetails")],
        "KubernetesWorkloadDetails": ["name": .string, "type": .string, "uid": .string, "namespace": .string, "hostNetwork": .bool, "serviceAccountName": .string, "containers": .list(.structure("Container")), "volumes": .list(.structure("Volume")), "hostIPC": .bool, "hostPID": .bool],
        "KubernetesUserDetails": ["username": .string, "uid": .string, "groups": .list(.string), "sessionName": .list(.string), "impersonatedUser": .structure("ImpersonatedUser")],
        "InstanceDetails": ["availabilityZone": .string, "iamInstanceProfile": .structure("IamInstanceProfile"), "imageDescription": .string, "imageId": .string, "instanceId": .string, "instanceState": .string, "instanceType": .string, "outpostArn": .string, "launchTime": .string, "networkInterfaces": .list(.structure("NetworkInterface")), "platform": .string, "productCodes": .list(.structure("ProductCode")), "tags": .list(.structure("Tag"))],
        "NetworkInterface": ["ipv6Addresses": .list(.string), "networkInterfaceId": .string, "privateDnsName": .string, "privateIpAddress": .string, "privateIpAddresses": .list(.structure("PrivateIpAddressDetails")), "publicDnsName": .string, "publicIp": .string, "securityGroups": .list(.structure("SecurityGroup")), "subnetId": .string, "vpcId": .string],
        "AccessKeyDetails": ["accessKeyId": .string, "principalId": .string, "userName": .string, "userType": .string],
        "LambdaDetails": ["functionArn": .string, "functionName": .string, "description": .string, "lastModifiedAt": .number, "revisionId": .string, "functionVersion": .string, "role": .string, "vpcConfig": .structure("VpcConfig"), "tags": .list(.structure("Tag"))],
        "Detection": ["anomaly": .structure("Anomaly"), "sequence": .structure("Sequence")],
        "Sequence": ["uid": .string, "description": .string, "actors": .list(.structure("Actor")), "resources": .list(.structure("ResourceV2")), "endpoints": .list(.structure("NetworkEndpoint")), "signals": .list(.structure("Signal")), "sequenceIndicators": .list(.structure("Indicator")), "additionalSequenceTypes": .list(.string)],
        "Signal": ["uid": .string, "type": .string, "description": .string, "name": .string, "createdAt": .number, "updatedAt": .number, "firstSeenAt": .number, "lastSeenAt": .number, "severity": .number, "count": .number, "resourceUids": .list(.string), "actorIds": .list(.string), "endpointIds": .list(.string), "signalIndicators": .list(.structure("Indicator"))],
        "Indicator": ["key": .string, "values": .list(.structure("IndicatorValueString")), "title": .string],    ]

    /// Structures whose members are free-form in real findings (the API model lists only some).
    static let openStructures: Set<String> = ["ServiceAdditionalInfo"]

    /// The shape at a dotted path of an EventBridge GuardDuty event, `.open` below an undescribed
    /// structure, nil when a GuardDuty event cannot have that path.
    public static func shape(at path: [String]) -> Shape? {
        guard let first = path.first, var shape = envelope[first] else { return nil }
        for key in path.dropFirst() {
            switch shape.element {
            case .structure(let name):
                guard let members = structures[name], !openStructures.contains(name) else { return .open }
                guard let next = members[key] else { return nil }
                shape = next
            case .open: return .open
            default: return nil  // below a string, number or boolean
            }
        }
        return shape
    }

    /// Every dotted path ending in `key` (for "did you mean detail.resource.resourceType?").
    public static func paths(endingWith key: String, limit: Int = 3) -> [String] {
        var found: [String] = []
        var queue: [(path: String, structure: String)] = [("detail", "Finding")]
        var seen: Set<String> = []
        while !queue.isEmpty, found.count < limit {
            let (path, name) = queue.removeFirst()
            guard seen.insert(name).inserted, let members = structures[name] else { continue }
            for (member, shape) in members.sorted(by: { $0.key < $1.key }) {
                let next = path + "." + member
                if member == key { found.append(next) }
                if case .structure(let s) = shape.element { queue.append((next, s)) }
            }
        }
        return found
    }
}
