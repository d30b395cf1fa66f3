//! AWS SDK configuration, read once per cold start. `AWS_ENDPOINT_URL` and `AWS_REGION` are
//! honoured by the SDK itself, which is how the local stack points everything at moto.

pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
