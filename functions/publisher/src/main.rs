//! Wires the `publisher` function: configuration, clients (built once), the SQS handler.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    connector::telemetry::init();
    let sdk = connector::config::aws_sdk_config().await;
    // The environment, and the LinkedIn client secret from Secrets Manager where the template
    // gives this function its ARN (one call, here, before the first event).
    let config = connector::config::Config::load(&sdk).await?;
    let publisher = publisher_function::Publisher::from_config(&config, &sdk)?;
    let publisher = &publisher;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = connector::deadline::Deadline::from_epoch_millis(event.context.deadline);
        Ok::<_, Error>(publisher_function::handle(event.payload, publisher, deadline).await)
    }))
    .await
}
