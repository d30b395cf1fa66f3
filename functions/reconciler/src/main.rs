//! Wires the `reconciler` function: EventBridge Scheduler invokes it every hour.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use reconciler_function::{ReconcileRequest, Reconciler};

#[tokio::main]
async fn main() -> Result<(), Error> {
    connector::telemetry::init();
    let sdk = connector::config::aws_sdk_config().await;
    // The environment, and the LinkedIn client secret from Secrets Manager where the template
    // gives this function its ARN (one call, here, before the first event).
    let config = connector::config::Config::load(&sdk).await?;
    let reconciler = Reconciler::from_config(&config, &sdk)?;
    let reconciler = &reconciler;
    run(service_fn(
        move |event: LambdaEvent<ReconcileRequest>| async move {
            let as_of = event.payload.as_of(chrono::Utc::now());
            Ok::<_, Error>(reconciler_function::handle(as_of, reconciler).await?)
        },
    ))
    .await
}
