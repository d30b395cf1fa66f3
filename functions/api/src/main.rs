//! Wires the `api` function: configuration, clients (built once), the handler.

use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    connector::telemetry::init();
    let sdk = connector::config::aws_sdk_config().await;
    // The environment, and the LinkedIn client secret from Secrets Manager where the template
    // gives this function its ARN (one call, here, before the first event).
    let config = connector::config::Config::load(&sdk).await?;
    let service = api_function::ApiService::from_config(&config, &sdk)?;
    let service = &service;
    run(service_fn(move |request| async move {
        Ok::<_, Error>(api_function::handle(request, service).await)
    }))
    .await
}
