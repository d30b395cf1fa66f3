//! Wires the `events` function: Lambda invokes it with batches of the table's stream.

use aws_lambda_events::event::dynamodb::Event;
use events_function::Events;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    connector::telemetry::init();
    let sdk = connector::config::aws_sdk_config().await;
    let config = connector::config::Config::load(&sdk).await?;
    let events = Events::from_config(&config, &sdk)?;
    let events = &events;
    run(service_fn(move |event: LambdaEvent<Event>| async move {
        let (response, _) = events_function::handle(&event.payload.records, events).await;
        Ok::<_, Error>(response)
    }))
    .await
}
