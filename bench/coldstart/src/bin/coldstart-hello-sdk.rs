//! The cold-start baseline every function is measured against: the Lambda runtime, the AWS
//! SDK's configuration loaded and one client built at init (what any function that talks to
//! AWS cannot avoid), then the runtime.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let dynamo = &dynamo;
    run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            // Touch the client so it is not optimised away.
            let _ = dynamo.config().region();
            Ok::<_, Error>(event.payload)
        },
    ))
    .await
}
