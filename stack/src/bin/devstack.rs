//! `make dev`: the whole product on one machine — moto, the LinkedIn simulator, and the HTTP
//! functions behind a local API gateway that verifies dev JWTs.

use std::path::Path;

use anyhow::{bail, Context};
use local_stack::{LocalStack, StackOptions};
use url::Url;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    connector::telemetry::init();
    let gateway_addr = env("DEV_GATEWAY_ADDR")
        .unwrap_or_else(|| "127.0.0.1:3000".into())
        .parse()
        .context("DEV_GATEWAY_ADDR must be host:port")?;
    let moto_port = env("DEV_MOTO_PORT")
        .map(|p| p.parse())
        .transpose()
        .context("DEV_MOTO_PORT must be a port number")?
        .unwrap_or(5005);
    let linkedin = match (env("LINKEDIN_AUTH_BASE_URL"), env("LINKEDIN_API_BASE_URL")) {
        (Some(auth), Some(api)) => Some((
            Url::parse(&auth).context("LINKEDIN_AUTH_BASE_URL")?,
            Url::parse(&api).context("LINKEDIN_API_BASE_URL")?,
        )),
        (None, None) => None,
        _ => bail!("set both LINKEDIN_AUTH_BASE_URL and LINKEDIN_API_BASE_URL, or neither (to use the simulator)"),
    };
    let simulator_addr = env("DEV_SIMULATOR_ADDR")
        .unwrap_or_else(|| "127.0.0.1:8088".into())
        .parse()
        .context("DEV_SIMULATOR_ADDR must be host:port")?;
    // Like real LinkedIn, a new token is refused for a moment; the product waits it out.
    let propagation_ms = env("DEV_SIMULATOR_PROPAGATION_MS")
        .map(|v| v.parse())
        .transpose()
        .context("DEV_SIMULATOR_PROPAGATION_MS must be a number")?
        .unwrap_or(1500);
    let cdn_addr = env("DEV_CDN_ADDR")
        .unwrap_or_else(|| "127.0.0.1:8090".into())
        .parse()
        .context("DEV_CDN_ADDR must be host:port")?;
    let mut options = StackOptions {
        gateway_addr,
        cdn_addr,
        aws_endpoint: env("AWS_ENDPOINT_URL"),
        moto_port,
        linkedin,
        simulator_addr,
        ..StackOptions::default()
    };
    options.simulator.propagation_window = std::time::Duration::from_millis(propagation_ms);
    // EventBridge Scheduler, locally: scheduled posts, refresh windows, the 6-hourly health
    // round and the hourly reconciler fire on time.
    options.run_scheduler = Some(std::time::Duration::from_secs(1));
    // Webhook events are delivered to the endpoints tenants register.
    options.run_notifier = true;
    if let Some(region) = env("AWS_REGION") {
        options.region = region;
    }
    for name in connector::config::VARIABLES {
        if let Some(value) = env(name) {
            options.settings.insert((*name).to_owned(), value);
        }
    }
    if let Some(secret) = env("DEV_JWT_SECRET") {
        options.jwt.secret = secret;
    }

    let stack = LocalStack::start(options).await?;
    // A stand-in for a tenant's webhook endpoint: answers 204 and lists what it received.
    let receiver_addr = env("DEV_WEBHOOK_RECEIVER_ADDR")
        .unwrap_or_else(|| "127.0.0.1:8091".into())
        .parse()
        .context("DEV_WEBHOOK_RECEIVER_ADDR must be host:port")?;
    let receiver = local_stack::receiver::WebhookReceiver::start_on(receiver_addr)
        .await
        .with_context(|| format!("starting the webhook receiver on {receiver_addr}"))?;
    let token = stack.token_for("demo");
    let state_dir = Path::new(".devstack");
    std::fs::create_dir_all(state_dir)?;
    std::fs::write(state_dir.join("token"), &token)?;
    // An operator's token (the admin scope, no tenant) for the tenant settings routes.
    std::fs::write(state_dir.join("admin-token"), stack.admin_token())?;
    // Where to put a task on the health queue by hand (e.g. a metrics round as of tomorrow).
    std::fs::write(
        state_dir.join("health-queue-url"),
        stack.config.require_health_queue()?,
    )?;
    std::fs::write(state_dir.join("aws-endpoint"), &stack.aws_endpoint)?;
    let gateway = stack.gateway_url.as_str().trim_end_matches('/');
    let linkedin = match &stack.simulator {
        Some(sim) => format!(
            "{} (simulator)",
            sim.base_url().as_str().trim_end_matches('/')
        ),
        None => stack.config.linkedin.api_base_url.to_string(),
    };
    println!(
        r#"
LinkedIn connector — local stack is up
  gateway    {gateway}
  AWS        {aws} (table {table}, key {key})
  LinkedIn   {linkedin}
  images     {cdn}/img/<any-name>.png (a stand-in for your app's image host)
  webhooks   http://{receiver}/<any-path> (a stand-in endpoint; GET /received lists what came)

A dev token for tenant "demo" (24 h) is in .devstack/token, an admin token (scope
{admin_scope}, for /v1/admin/tenants/…) in .devstack/admin-token. In another terminal:

  export TOKEN=$(cat .devstack/token)
  curl -s -X POST {gateway}/v1/connections/linkedin/authorize -H "authorization: Bearer $TOKEN"

Open the authorization_url it returns in a browser, click Allow, then:

  curl -s {gateway}/v1/connections -H "authorization: Bearer $TOKEN"

Ctrl-C stops everything."#,
        aws = stack.aws_endpoint,
        admin_scope = stack.config.admin_scope,
        table = stack.config.table_name,
        key = stack.config.token_key_id,
        cdn = stack.cdn.base_url.as_str().trim_end_matches('/'),
        receiver = receiver.addr,
    );
    tokio::signal::ctrl_c().await?;
    println!("stopping");
    Ok(())
}
