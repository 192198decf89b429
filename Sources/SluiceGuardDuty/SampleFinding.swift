import SluiceCore

/// A GuardDuty finding in its EventBridge envelope (Runtime Monitoring, crypto-mining in an EKS
/// pod; examples/findings/03-eks-container-mining.json), for checks that must render a template
/// before any real finding arrives: a JSON template must produce a JSON document for it.
public enum SampleFinding {
    public static let guardDutyText = #"""
{
  "version": "0",
  "id": "0e0af1f9-96e6-4b35-ab6e-563f9a884f9f",
  "detail-type": "GuardDuty Finding",
  "source": "aws.guardduty",
  "account": "444455556666",
  "time": "2025-05-20T03:29:41Z",
  "region": "eu-west-1",
  "resources": [],
  "detail": {
    "schemaVersion": "2.0",
    "accountId": "444455556666",
    "region": "eu-west-1",
    "partition": "aws",
    "id": "f44a1452def533e5209a9c6cbd2833ec",
    "arn": "arn:aws:guardduty:eu-west-1:444455556666:detector/8e0a2c4e6f8b1d3f5a7c9e1b3d5f7a9c/finding/f44a1452def533e5209a9c6cbd2833ec",
    "type": "CryptoCurrency:Runtime/BitcoinTool.B!DNS",
    "resource": {
      "resourceType": "EKSCluster",
      "eksClusterDetails": {
        "name": "analytics-prod",
        "arn": "arn:aws:eks:eu-west-1:444455556666:cluster/analytics-prod",
        "vpcId": "vpc-0d9c8b7a6f5e4d3c2",
        "status": "ACTIVE",
        "tags": [
          {
            "key": "Environment",
            "value": "production"
          }
        ],
        "createdAt": 1725358934.318
      },
      "kubernetesDetails": {
        "kubernetesWorkloadDetails": {
          "name": "report-worker",
          "type": "deployments",
          "uid": "f4715d76-31e0-48ad-a62a-460e07e96e13",
          "namespace": "reporting",
          "serviceAccountName": "report-worker",
          "containers": [
            {
              "name": "report-worker",
              "image": "444455556666.dkr.ecr.eu-west-1.amazonaws.com/report-worker:2.14.1",
              "imagePrefix": "444455556666.dkr.ecr.eu-west-1.amazonaws.com",
              "securityContext": {
                "privileged": false,
                "allowPrivilegeEscalation": false
              }
            }
          ]
        }
      },
      "containerDetails": {
        "containerRuntime": "containerd",
        "id": "70c50cc9a585b04bfd61b8fdffbdf2e0557dbeea1ffdd2354401d85178e89294",
        "name": "report-worker",
        "image": "444455556666.dkr.ecr.eu-west-1.amazonaws.com/report-worker:2.14.1"
      }
    },
    "service": {
      "serviceName": "guardduty",
      "detectorId": "8e0a2c4e6f8b1d3f5a7c9e1b3d5f7a9c",
      "archived": false,
      "count": 23,
      "eventFirstSeen": "2025-05-20T03:11:52.000Z",
      "eventLastSeen": "2025-05-20T03:26:05.000Z",
      "resourceRole": "TARGET",
      "featureName": "RuntimeMonitoring",
      "action": {
        "actionType": "DNS_REQUEST",
        "dnsRequestAction": {
          "domain": "xmr.miningpool.example",
          "domainWithSuffix": "miningpool.example",
          "protocol": "UDP",
          "blocked": false
        }
      },
      "runtimeDetails": {
        "process": {
          "name": "kworkerds",
          "executablePath": "/tmp/.kworkerds",
          "executableSha256": "d6e2e5ff1264d241cd48a6d5eb797250abf0a3dbf242f0d226176474bc59d15a",
          "pid": 412087,
          "namespacePid": 57,
          "pwd": "/tmp",
          "user": "app",
          "userId": 10001,
          "euid": 10001,
          "uuid": "b54a153b-d0eb-4c9c-bc92-ee498467bc3d",
          "parentUuid": "85a4f51f-f87f-45d2-ab45-4032a4845b01",
          "startTime": 1747710709.45,
          "lineage": [
            {
              "name": "python3",
              "executablePath": "/usr/local/bin/python3.12",
              "pid": 402311,
              "namespacePid": 1,
              "userId": 10001,
              "euid": 10001,
              "uuid": "85a4f51f-f87f-45d2-ab45-4032a4845b01",
              "parentUuid": "f5e5ed59-08bc-42f6-a28a-a0d25c89d65f",
              "startTime": 1747694407.641
            }
          ]
        }
      }
    },
    "severity": 8,
    "createdAt": "2025-05-20T03:29:41.077Z",
    "updatedAt": "2025-05-20T03:29:41.077Z",
    "title": "Bitcoin-related domain name queried by a container in EKS cluster analytics-prod.",
    "description": "A container of deployment reporting/report-worker is querying xmr.miningpool.example, a domain associated with cryptocurrency mining."
  }
}
"""#

    public static let guardDuty: JSON = (try? JSON.parse(guardDutyText)) ?? .object([])
}

extension SampleFinding {
    /// The sample templates are checked with (`TemplateCheck.jsonIssue`): the GuardDuty finding and its summary.
    public static var template: TemplateSample { TemplateSample(event: guardDuty, summary: FindingSummary(event: guardDuty), kind: "GuardDuty finding") }
}
