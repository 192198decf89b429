// SluiceConnectors
