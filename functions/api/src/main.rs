//! Wires the `api` function: configuration, clients (built once), the handler.

use lambda_http::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    connector::telemetry::init();
    let config = connector::config::Config::from_env()?;
    let sdk = connector::config::aws_sdk_config().await;
    let service = api_function::ApiService::from_config(&config, &sdk)?;
    let service = &service;
    run(service_fn(move |request| async move {
        Ok::<_, Error>(api_function::handle(request, service).await)
    }))
    .await
}
