// SluiceKafka
