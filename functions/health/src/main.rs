//! Wires the `health` function: an SQS consumer of health tasks (plan, page, check).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    connector::telemetry::init();
    let sdk = connector::config::aws_sdk_config().await;
    // The environment, and the LinkedIn client secret from Secrets Manager where the template
    // gives this function its ARN (one call, here, before the first event).
    let config = connector::config::Config::load(&sdk).await?;
    let health = health_function::Health::from_config(&config, &sdk)?;
    let health = &health;
    run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = connector::deadline::Deadline::from_epoch_millis(event.context.deadline);
        Ok::<_, Error>(health_function::handle(event.payload, health, deadline).await)
    }))
    .await
}
