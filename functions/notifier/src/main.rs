//! Wires the `notifier` function: an SQS consumer of the webhook queue.

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    connector::telemetry::init();
    let sdk = connector::config::aws_sdk_config().await;
    // The environment, and the webhook master secret from Secrets Manager (one call, here,
    // before the first event).
    let config = connector::config::Config::load(&sdk).await?;
    let notifier = notifier_function::Notifier::from_config(&config, &sdk)?;
    let notifier = &notifier;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(notifier_function::handle(event.payload, notifier).await)
    }))
    .await
}
