import ArgumentParser
import Foundation
import SluiceActions
import SluiceAWS
import SluiceHTTP

struct ActionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "action", abstract: "Act on what response actions did.", subcommands: [Undo.self])

    struct Undo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Release an instance isolated by aws.ec2.isolate: restore each network interface's recorded groups.",
            discussion: "Termination protection and snapshots are left as they are (they are evidence).")

        @Option(name: .long, help: "The EC2 instance id.") var instance: String
        @Option(name: .long, help: "AWS region (default: AWS_REGION or the profile's).") var region: String?
        @Option(name: .long, help: "AWS endpoint override (moto, LocalStack).") var endpoint: String?
        @Option(name: .long, help: "AWS profile of the shared config files.") var profile: String?

        func run() async throws {
            let env = ProcessInfo.processInfo.environment
            let http = HTTPClient()
            let client = try AWSSettings(region: region, endpoint: endpoint, profile: profile).makeClient(http: http, environment: env)
            let restored = try await EC2IsolateExecutor.undo(instance: instance, client: client)
            if restored.isEmpty {
                print("\(instance): no recorded groups (not quarantined by Sluice?)")
            } else {
                for (eni, groups) in restored.sorted(by: { $0.key < $1.key }) { print("\(eni): restored \(groups.joined(separator: ", "))") }
            }
        }
    }
}
