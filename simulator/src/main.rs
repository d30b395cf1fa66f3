//! The LinkedIn simulator on its own, for pointing any client at it:
//! `SIM_ADDR` (127.0.0.1:8088), `SIM_CLIENT_ID`, `SIM_CLIENT_SECRET`, `SIM_REDIRECT_URIS`
//! (comma-separated), `SIM_REFRESH_TOKENS` (1/0), `SIM_PROPAGATION_MS`. Controls under `/_sim/`.

use linkedin_simulator::{Simulator, SimulatorConfig};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut config = SimulatorConfig::default();
    if let Some(v) = env("SIM_CLIENT_ID") {
        config.client_id = v;
    }
    if let Some(v) = env("SIM_CLIENT_SECRET") {
        config.client_secret = v;
    }
    if let Some(v) = env("SIM_REDIRECT_URIS") {
        config.redirect_uris = v.split(',').map(|s| s.trim().to_owned()).collect();
    }
    if let Some(v) = env("SIM_REFRESH_TOKENS") {
        config.issue_refresh_tokens = v == "1" || v.eq_ignore_ascii_case("true");
    }
    if let Some(v) = env("SIM_PROPAGATION_MS") {
        config.propagation_window = std::time::Duration::from_millis(v.parse()?);
    }
    let addr = env("SIM_ADDR")
        .unwrap_or_else(|| "127.0.0.1:8088".into())
        .parse()?;
    let sim = Simulator::start_on(addr, config).await?;
    println!("LinkedIn simulator listening on {}", sim.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
