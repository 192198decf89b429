import SluiceAWS
import SluiceCore

/// `aws.iam.disable-access-key`: sets the access key an AccessKey finding names to Inactive
/// (it can be turned back on; deletion would destroy evidence). Unchanged when already inactive.
///
/// ```yaml
/// - name: disable-key
///   action: aws.iam.disable-access-key
///   params:
///     access_key_id: "{{detail.resource.accessKeyDetails.accessKeyId}}"   # the default
///     user_name: "{{detail.resource.accessKeyDetails.userName}}"          # the default
/// ```
public struct IAMDisableAccessKeyExecutor: ActionExecutor {
    public static let kind = "aws.iam.disable-access-key"
    public static let summary = "Deactivate the IAM access key an AccessKey finding names"
    public static let parameters = [
        ActionParameter("access_key_id", .string, help: "default: the finding's access key"),
        ActionParameter("user_name", .string, help: "default: the finding's user"),
    ]

    let aws: AWSClients

    public init(context: ActionContext) { aws = context.aws }

    static func names(_ request: ActionRequest) throws(ActionError) -> (key: String, user: String) {
        let p = request.parameters
        guard let key = p.string("access_key_id") ?? request.findingString("detail.resource.accessKeyDetails.accessKeyId"),
              let user = p.string("user_name") ?? request.findingString("detail.resource.accessKeyDetails.userName") else {
            throw .permanent("no access key: the finding names none and the step gives no access_key_id/user_name")
        }
        return (key, user)
    }

    public static func plannedTarget(_ request: ActionRequest) throws(ActionError) -> PlannedTarget? {
        PlannedTarget(try keyTarget(request))
    }

    public func target(_ request: ActionRequest) async throws(ActionError) -> ActionTarget {
        try Self.keyTarget(request)
    }

    static func keyTarget(_ request: ActionRequest) throws(ActionError) -> ActionTarget {
        let (key, user) = try names(request)
        return ActionTarget(kind: "iam:access-key", id: key, account: request.findingString("detail.accountId"), namespace: user)
    }

    public func execute(_ request: ActionRequest, target: ActionTarget) async throws(ActionError) -> ActionOutput {
        let (key, user) = try Self.names(request)
        let client = try aws.client(for: request)
        do {
            let keys = try await client.query(.iam, action: "ListAccessKeys", parameters: [("UserName", user)])
            let current = keys.first(named: "AccessKeyMetadata")?.all("member").first { $0.text("AccessKeyId") == key }
            guard let current else { throw ActionError.permanent("access key \(key) of \(user) not found") }
            if current.text("Status") == "Inactive" {
                return ActionOutput(["access_key_id": .string(key), "user_name": .string(user), "status": "Inactive"], changed: false)
            }
            _ = try await client.query(.iam, action: "UpdateAccessKey", parameters: [("AccessKeyId", key), ("UserName", user), ("Status", "Inactive")])
        } catch let e as AWSError { throw ActionError(e) } catch let e as ActionError { throw e } catch { throw .permanent("\(error)") }
        return ActionOutput(["access_key_id": .string(key), "user_name": .string(user), "status": "Inactive"])
    }
}
