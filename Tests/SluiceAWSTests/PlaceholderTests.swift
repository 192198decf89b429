import SluiceAWS
import Testing

@Suite struct SluiceAWSPlaceholderTests {
    @Test func moduleLinks() { _ = SluiceAWS.self }
}
