import ArgumentParser
import SluiceActions

struct ActionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "actions", abstract: "List the action executors playbooks can use, one a line with a short description.")

    @Flag(name: .long, help: "Also list each executor's parameters.") var parameters = false

    func run() async throws {
        let width = ActionRegistry.types.map { $0.kind.count }.max() ?? 0
        for t in ActionRegistry.types {
            print(t.kind.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + t.summary)
            guard parameters else { continue }
            for p in t.parameters {
                print("    \(p.name)\(p.required ? " (required)" : ""): \(p.help)")
            }
        }
    }
}
