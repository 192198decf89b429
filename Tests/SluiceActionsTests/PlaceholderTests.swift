import SluiceActions
import Testing

@Suite struct SluiceActionsPlaceholderTests {
    @Test func moduleLinks() { _ = SluiceActions.self }
}
