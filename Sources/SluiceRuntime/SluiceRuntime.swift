// SluiceRuntime
