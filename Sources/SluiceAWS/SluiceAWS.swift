/// AWS access for connectors and action executors: credentials (environment, shared files and
/// profiles, web identity through STS, EC2 instance metadata) and requests signed by libcurl
/// (`CURLOPT_AWS_SIGV4`) over the shared HTTP client.
public enum SluiceAWS {}
