import Foundation
import SluiceCore
import SluiceGuardDuty

/// The findings `validate` renders a JSON template for before any real one arrives, made as
/// `run` makes what it renders: through the one decoder, so the whole view is there. The bare
/// GuardDuty summary (`SampleFinding.template`) lacks members every finding has at run time
/// (`sluice.severity_id`, `sluice.format`, `sluice.part`), and `"s": {{sluice.severity_id}}`
/// was refused as "not JSON" though every delivery would have been JSON.
public enum TemplateSamples {
    /// A sample: what templates render, and the record's text (routes are matched on it decoded).
    public struct Sample: Sendable {
        public let template: TemplateSample
        public let text: String
    }

    /// The GuardDuty sample every JSON template must render as JSON (an error otherwise).
    public static let guardDuty: TemplateSample = sample(SampleFinding.guardDutyText, kind: "GuardDuty finding").template

    /// One finding of each other format at a high severity, then every finding format at every
    /// severity band it has (docs/formats.md §4): a JSON template whose route matches one of them
    /// must render it as JSON too, or such findings are dead-lettered `render_failed` at run time
    /// (a warning: the route may never see one). With high-severity samples only, a route on low
    /// severities (`sluice.severity_id: [1, 2]`) was never checked at all. The base records are
    /// copied from examples/findings/ (falco/03, ocsf/02, asff/02, 03-eks-container-mining;
    /// SOURCES.md says where each shape comes from); a band's sample is the base record with its
    /// severity field set to that band's value, so what differs is the severity alone.
    public static let everyFormatAndBand: [Sample] = {
        let falco = "Falco alert (examples/findings/falco/03-k8s-drop-and-execute-critical.json)"
        let ocsf = "OCSF detection (examples/findings/ocsf/02-edr-detection-critical-1.1.json)"
        let asff = "Security Hub ASFF finding (examples/findings/asff/02-inspector-ecr-critical-cve.json)"
        let guardDuty = "GuardDuty finding (examples/findings/03-eks-container-mining.json)"
        var samples = [sample(falcoText, kind: falco), sample(ocsfText, kind: ocsf), sample(asffText, kind: asff)]
        // The field each format reads its severity from, and its value at each band but the base's.
        let falcoPriority = #""priority": "Critical","#
        for priority in ["Emergency", "Error", "Warning", "Notice", "Informational", "Unrecognised"] {
            samples.append(band(falcoText, falcoPriority, #""priority": "\#(priority)","#, kind: falco, at: "priority \(priority)"))
        }
        let ocsfSeverity = "\"severity_id\": 5,\n  \"severity\": \"Critical\","
        for (id, label) in [(6, "Fatal"), (4, "High"), (3, "Medium"), (2, "Low"), (1, "Informational"), (0, "Unknown")] {
            samples.append(band(ocsfText, ocsfSeverity, "\"severity_id\": \(id),\n  \"severity\": \"\(label)\",", kind: ocsf, at: "severity_id \(id)"))
        }
        let asffSeverity = "\"Label\": \"CRITICAL\",\n          \"Normalized\": 90"
        for (label, normalized) in [("HIGH", 70), ("MEDIUM", 40), ("LOW", 1), ("INFORMATIONAL", 0)] {
            samples.append(band(asffText, asffSeverity, "\"Label\": \"\(label)\",\n          \"Normalized\": \(normalized)", kind: asff, at: "Severity.Label \(label)"))
        }
        // The GuardDuty sample itself (severity 8, high) is checked apart, as an error.
        for severity in ["9.0", "5.0", "2.0"] {
            samples.append(band(SampleFinding.guardDutyText, #""severity": 8,"#, #""severity": \#(severity),"#, kind: guardDuty, at: "severity \(severity)"))
        }
        return samples
    }()

    /// `base` with its severity text `field` replaced by `value`; `TemplateSamplesTests` checks
    /// that each one decodes to the band it stands for.
    static func band(_ base: String, _ field: String, _ value: String, kind: String, at band: String) -> Sample {
        sample(base.replacingOccurrences(of: field, with: value), kind: "\(kind) at \(band)")
    }

    static func sample(_ text: String, kind: String) -> Sample {
        var made = TemplateSample(event: .object([]), summary: nil, kind: kind)
        FindingDecoder().decode(text) { finding in
            let (event, summary) = finding.materialized()
            made = TemplateSample(event: event, summary: summary, kind: kind)
        }
        return Sample(template: made, text: text)
    }

    static let falcoText = #"""
{
  "hostname": "ip-10-20-5-17.eu-west-1.compute.internal",
  "output": "09:15:48.905127334: Critical Executing binary not part of base image | proc_exe=/tmp/.x/kworkerd proc_sname=sh gparent=containerd-shim proc_exe_ino_ctime=1748855747101928311 proc_exe_ino_mtime=1748855747101928311 proc_exe_ino_ctime_duration_proc_start=1803205023 proc_cwd=/tmp/.x/ container_start_ts=1748512034662800114 evt_type=execve user=www-data user_uid=33 user_loginuid=-1 process=kworkerd proc_exepath=/tmp/.x/kworkerd parent=sh command=kworkerd -o pool.miningpool.example:3333 terminal=0 exe_flags=EXE_WRITABLE|EXE_UPPER_LAYER container_id=b41d07a2e9c3 container_name=storefront container_image_repository=444455556666.dkr.ecr.eu-west-1.amazonaws.com/storefront container_image_tag=5.3.0 k8s_pod_name=storefront-6c8f7d9b4-mq7tz k8s_ns_name=shop",
  "output_fields": {
    "container.id": "b41d07a2e9c3",
    "container.image.repository": "444455556666.dkr.ecr.eu-west-1.amazonaws.com/storefront",
    "container.image.tag": "5.3.0",
    "container.name": "storefront",
    "container.start_ts": 1748512034662800114,
    "evt.arg.flags": "EXE_WRITABLE|EXE_UPPER_LAYER",
    "evt.time": 1748855748905127334,
    "evt.type": "execve",
    "k8s.ns.name": "shop",
    "k8s.pod.name": "storefront-6c8f7d9b4-mq7tz",
    "proc.aname[2]": "containerd-shim",
    "proc.cmdline": "kworkerd -o pool.miningpool.example:3333",
    "proc.cwd": "/tmp/.x/",
    "proc.exe": "/tmp/.x/kworkerd",
    "proc.exe_ino.ctime": 1748855747101928311,
    "proc.exe_ino.ctime_duration_proc_start": 1803205023,
    "proc.exe_ino.mtime": 1748855747101928311,
    "proc.exepath": "/tmp/.x/kworkerd",
    "proc.name": "kworkerd",
    "proc.pname": "sh",
    "proc.sname": "sh",
    "proc.tty": 0,
    "user.loginuid": -1,
    "user.name": "www-data",
    "user.uid": 33
  },
  "priority": "Critical",
  "rule": "Drop and execute new binary in container",
  "source": "syscall",
  "tags": [
    "maturity_stable",
    "container",
    "process",
    "mitre_persistence",
    "TA0003",
    "PCI_DSS_11.5.1"
  ],
  "time": "2025-06-02T09:15:48.905127334Z"
}
"""#

    static let ocsfText = #"""
{
  "activity_id": 1,
  "activity_name": "Create",
  "category_name": "Findings",
  "category_uid": 2,
  "class_name": "Detection Finding",
  "class_uid": 2004,
  "type_uid": 200401,
  "type_name": "Detection Finding: Create",
  "severity_id": 5,
  "severity": "Critical",
  "status_id": 1,
  "status": "New",
  "time": 1748606411250,
  "start_time": 1748606398004,
  "end_time": 1748606409871,
  "message": "Credential dumping tool executed on i-0a4f1c2b3d5e6f789",
  "metadata": {
    "version": "1.1.0",
    "profiles": [
      "cloud",
      "host"
    ],
    "uid": "evt-7f3a9c1e5b",
    "product": {
      "name": "Sentry EDR",
      "vendor_name": "Example Security Inc.",
      "version": "7.4.2",
      "uid": "sentry-edr"
    },
    "log_name": "detections"
  },
  "finding_info": {
    "uid": "det-2025-05-30-000481",
    "title": "Credential dumping tool executed",
    "desc": "The process /tmp/mimipenguin.sh read the memory of sshd (pid 812) and searched it for cleartext passwords.",
    "types": [
      "Credential Access"
    ],
    "created_time": 1748606411250,
    "first_seen_time": 1748606398004,
    "last_seen_time": 1748606409871,
    "attacks": [
      {
        "tactic": {
          "uid": "TA0006",
          "name": "Credential Access"
        },
        "technique": {
          "uid": "T1003.007",
          "name": "OS Credential Dumping: Proc Filesystem"
        },
        "version": "15.1"
      }
    ],
    "analytic": {
      "uid": "rule-4411",
      "name": "Process memory read by script",
      "type_id": 1,
      "type": "Rule"
    }
  },
  "cloud": {
    "provider": "AWS",
    "region": "us-east-1",
    "account": {
      "uid": "111122223333",
      "type": "AWS Account",
      "type_id": 10
    }
  },
  "device": {
    "type_id": 6,
    "type": "Virtual",
    "hostname": "payments-api-01",
    "instance_uid": "i-0a4f1c2b3d5e6f789",
    "ip": "10.0.12.34",
    "region": "us-east-1",
    "os": {
      "name": "Amazon Linux",
      "version": "2023",
      "type_id": 200,
      "type": "Linux"
    }
  },
  "resources": [
    {
      "type": "AWS::EC2::Instance",
      "uid": "arn:aws:ec2:us-east-1:111122223333:instance/i-0a4f1c2b3d5e6f789",
      "name": "payments-api-01",
      "region": "us-east-1",
      "cloud_partition": "aws",
      "labels": [
        "Environment:production"
      ]
    }
  ],
  "evidences": [
    {
      "process": {
        "pid": 48211,
        "name": "mimipenguin.sh",
        "cmd_line": "/bin/bash /tmp/mimipenguin.sh",
        "file": {
          "name": "mimipenguin.sh",
          "path": "/tmp/mimipenguin.sh",
          "type_id": 1,
          "type": "Regular File"
        },
        "user": {
          "name": "ec2-user",
          "uid": "1000"
        },
        "parent_process": {
          "pid": 48190,
          "name": "bash"
        }
      }
    }
  ]
}
"""#

    static let asffText = #"""
{
  "version": "0",
  "id": "b8d0c6a2-51e7-4c3f-9e14-7a2f3c5d8e61",
  "detail-type": "Security Hub Findings - Imported",
  "source": "aws.securityhub",
  "account": "444455556666",
  "time": "2025-05-21T10:42:18Z",
  "region": "eu-west-1",
  "resources": [
    "arn:aws:securityhub:eu-west-1::product/aws/inspector/arn:aws:inspector2:eu-west-1:444455556666:finding/3c1e5a7b9d2f4e6081a3c5e7f9b1d3e5"
  ],
  "detail": {
    "findings": [
      {
        "SchemaVersion": "2018-10-08",
        "Id": "arn:aws:inspector2:eu-west-1:444455556666:finding/3c1e5a7b9d2f4e6081a3c5e7f9b1d3e5",
        "ProductArn": "arn:aws:securityhub:eu-west-1::product/aws/inspector",
        "ProductName": "Inspector",
        "CompanyName": "Amazon",
        "Region": "eu-west-1",
        "GeneratorId": "AWSInspector",
        "AwsAccountId": "444455556666",
        "Types": [
          "Software and Configuration Checks/Vulnerabilities/CVE"
        ],
        "FirstObservedAt": "2025-05-21T10:31:09.000Z",
        "LastObservedAt": "2025-05-21T10:31:09.000Z",
        "CreatedAt": "2025-05-21T10:31:09.000Z",
        "UpdatedAt": "2025-05-21T10:31:09.000Z",
        "Severity": {
          "Label": "CRITICAL",
          "Normalized": 90
        },
        "Title": "CVE-2024-3094 - xz-utils, liblzma5",
        "Description": "Malicious code was discovered in the upstream tarballs of xz, starting with version 5.6.0. The liblzma build process extracts a prebuilt object file from a disguised test file, which modifies specific functions in the liblzma code.",
        "Remediation": {
          "Recommendation": {
            "Text": "Upgrade xz-utils and liblzma5 to 5.6.1+really5.4.5-1 or later and rebuild the image."
          }
        },
        "ProductFields": {
          "aws/inspector/ProductVersion": "2",
          "aws/inspector/FindingStatus": "ACTIVE",
          "aws/inspector/inspectorScore": "10.0",
          "aws/inspector/resources/1/resourceDetails/awsEcrContainerImageDetails/platform": "DEBIAN_12",
          "aws/securityhub/FindingId": "arn:aws:securityhub:eu-west-1::product/aws/inspector/arn:aws:inspector2:eu-west-1:444455556666:finding/3c1e5a7b9d2f4e6081a3c5e7f9b1d3e5",
          "aws/securityhub/ProductName": "Inspector",
          "aws/securityhub/CompanyName": "Amazon"
        },
        "Resources": [
          {
            "Type": "AwsEcrContainerImage",
            "Id": "arn:aws:ecr:eu-west-1:444455556666:repository/report-worker/sha256:5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592",
            "Partition": "aws",
            "Region": "eu-west-1",
            "Details": {
              "AwsEcrContainerImage": {
                "RegistryId": "444455556666",
                "RepositoryName": "report-worker",
                "Architecture": "amd64",
                "ImageDigest": "sha256:5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592",
                "ImageTags": [
                  "2.14.1"
                ],
                "ImagePublishedAt": "2025-05-19T16:20:44.000Z"
              }
            }
          }
        ],
        "Vulnerabilities": [
          {
            "Id": "CVE-2024-3094",
            "VulnerablePackages": [
              {
                "Name": "xz-utils",
                "Version": "5.6.0",
                "Release": "0.1",
                "Architecture": "AMD64",
                "PackageManager": "OS",
                "FixedInVersion": "5.6.1+really5.4.5-1",
                "Remediation": "apt-get update && apt-get upgrade xz-utils"
              },
              {
                "Name": "liblzma5",
                "Version": "5.6.0",
                "Release": "0.1",
                "Architecture": "AMD64",
                "PackageManager": "OS",
                "FixedInVersion": "5.6.1+really5.4.5-1",
                "Remediation": "apt-get update && apt-get upgrade liblzma5"
              }
            ],
            "Cvss": [
              {
                "Version": "3.1",
                "BaseScore": 10.0,
                "BaseVector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
                "Source": "NVD"
              }
            ],
            "Vendor": {
              "Name": "NVD",
              "Url": "https://nvd.nist.gov/vuln/detail/CVE-2024-3094",
              "VendorSeverity": "CRITICAL",
              "VendorCreatedAt": "2024-03-29T17:15:21.000Z",
              "VendorUpdatedAt": "2024-07-01T15:15:20.000Z"
            },
            "ReferenceUrls": [
              "https://www.openwall.com/lists/oss-security/2024/03/29/4"
            ],
            "FixAvailable": "YES",
            "ExploitAvailable": "YES"
          }
        ],
        "WorkflowState": "NEW",
        "Workflow": {
          "Status": "NEW"
        },
        "RecordState": "ACTIVE",
        "FindingProviderFields": {
          "Severity": {
            "Label": "CRITICAL"
          },
          "Types": [
            "Software and Configuration Checks/Vulnerabilities/CVE"
          ]
        },
        "ProcessedAt": "2025-05-21T10:42:11.830Z"
      }
    ]
  }
}
"""#
}
