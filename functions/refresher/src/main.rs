//! Wires the `refresher` function: EventBridge Scheduler invokes it when a refresh window opens
//! or a reconnect runway comes.

use connector::schedules::RefresherEvent;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    connector::telemetry::init();
    let sdk = connector::config::aws_sdk_config().await;
    // The environment, and the LinkedIn client secret from Secrets Manager where the template
    // gives this function its ARN (one call, here, before the first event).
    let config = connector::config::Config::load(&sdk).await?;
    let refresher = refresher_function::Refresher::from_config(&config, &sdk)?;
    let refresher = &refresher;
    run(service_fn(
        move |event: LambdaEvent<RefresherEvent>| async move {
            let outcome = refresher_function::handle_event(
                &event.payload,
                refresher,
                chrono::Utc::now(),
                connector::deadline::Deadline::from_epoch_millis(event.context.deadline),
            )
            .await?;
            Ok::<_, Error>(outcome)
        },
    ))
    .await
}
