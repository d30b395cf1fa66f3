//! `make bench-health`: health rounds over many connections on the local stack, with the
//! simulator's LinkedIn latency at 0 and 150 ms. Reports per connection the AWS and LinkedIn
//! calls of a health check and of a refresh, the round's time and throughput, and the time
//! for 100,000 connections (measured when `BENCH_CONNECTIONS=100000`, else scaled from the
//! measured rate). Connections are seeded 25 to a BatchWriteItem. Counts, not timed
//! assertions.
//!
//! `BENCH_CONNECTIONS` (default 2000), `BENCH_LATENCIES_MS` (default "0,150"),
//! `BENCH_CONSUMERS` (default 5, the template's MaximumConcurrency).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use connector::domain::{
    Connection, ConnectionId, ConnectionStatus, MemberUrn, TenantId, PLATFORM,
};
use connector::vault::{TokenSet, VaultContext};
use futures::StreamExt;
use local_stack::moto::MotoServer;
use local_stack::{counting, poller, LocalStack, StackOptions};
use secrecy::SecretString;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let n: usize = env_or("BENCH_CONNECTIONS", 2000);
    let consumers: usize = env_or("BENCH_CONSUMERS", 5);
    let latencies: Vec<u64> = std::env::var("BENCH_LATENCIES_MS")
        .unwrap_or_else(|_| "0,150".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let moto = tokio::task::spawn_blocking(|| MotoServer::start(0)).await??;
    let stack = Arc::new(
        LocalStack::start(StackOptions {
            aws_endpoint: Some(moto.endpoint.clone()),
            run_publisher: false,
            // The functions' EMF lines are kept, not printed amid the tables.
            capture_metrics: true,
            ..StackOptions::default()
        })
        .await?,
    );
    let counter = stack.aws_calls().clone();
    let sim = stack.simulator();
    sim.configure(|c| c.member_daily_post_limit = u32::MAX);

    eprintln!("seeding {n} connections…");
    let seeded = Instant::now();
    let now = Utc::now();
    let chunks: Vec<Vec<usize>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(25)
        .map(|c| c.to_vec())
        .collect();
    futures::stream::iter(chunks)
        .for_each_concurrent(4, |chunk| {
            let stack = stack.clone();
            async move {
                let batch: Vec<_> = futures::stream::iter(chunk)
                    .map(|i| seed_one(&stack, i, now))
                    .buffer_unordered(8)
                    .collect()
                    .await;
                stack
                    .oauth
                    .store
                    .seed_connections(&batch)
                    .await
                    .expect("seeding connections");
            }
        })
        .await;
    eprintln!("seeded in {:.1} s", seeded.elapsed().as_secs_f64());

    // One refresh, counted.
    let refresh_calls = {
        let (tenant, id) = first_connection(&stack).await?;
        let stored = stack
            .refresher
            .keeper
            .connections
            .get_stored_connection(&tenant, id)
            .await?
            .expect("seeded");
        counter.take();
        let linkedin_before = sim.requests().len();
        stack.refresher.keeper.refresh(stored, Utc::now()).await?;
        (counter.take(), sim.requests().len() - linkedin_before)
    };

    println!("| LinkedIn latency | connections | consumers | LinkedIn calls/connection | AWS calls/connection | round time | connections/s | 100,000 connections (extrapolated) |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut as_of = Utc::now() + chrono::Duration::hours(7);
    let mut per_operation = Vec::new();
    for latency_ms in latencies {
        sim.configure(|c| c.latency = Duration::from_millis(latency_ms));
        counter.take();
        let linkedin_before = sim.requests().len();
        let started = Instant::now();
        stack
            .health
            .send(&[health_function::HealthTask::Plan { as_of: Some(as_of) }])
            .await?;
        drain(&stack, consumers).await;
        let elapsed = started.elapsed();
        let aws = counter.take();
        let linkedin = sim.requests().len() - linkedin_before;
        let per = |count: usize| count as f64 / n as f64;
        let by_service = counting::by_service(&aws);
        println!(
            "| {latency_ms} ms | {n} | {consumers} | {:.2} | {} | {:.1} s | {:.0} | {:.0} min |",
            per(linkedin),
            by_service
                .iter()
                .map(|(s, c)| format!("{s} {:.2}", per(*c)))
                .collect::<Vec<_>>()
                .join(", "),
            elapsed.as_secs_f64(),
            n as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 100_000.0 / n as f64 / 60.0,
        );
        eprintln!("  AWS calls by operation: {aws:?}");
        let (checks, refreshes) =
            time_operations(&stack, as_of + chrono::Duration::hours(7)).await?;
        per_operation.push((latency_ms, checks, refreshes));
        as_of += chrono::Duration::hours(14);
    }
    println!("\nOne operation at a time, wall time including the local stack's AWS round trips:");
    println!("| LinkedIn latency | health check p50 / p95 | refresh p50 / p95 |");
    println!("|---|---|---|");
    for (latency_ms, checks, refreshes) in per_operation {
        println!(
            "| {latency_ms} ms | {} | {} |",
            percentiles(checks),
            percentiles(refreshes)
        );
    }
    let (aws, linkedin) = refresh_calls;
    println!(
        "\nOne refresh: {linkedin} LinkedIn call(s); AWS calls {:?} ({:?})",
        counting::by_service(&aws),
        aws
    );
    drop(moto);
    Ok(())
}

/// One connection with freshly issued tokens, sealed by the vault (one KMS call).
async fn seed_one(
    stack: &LocalStack,
    i: usize,
    now: chrono::DateTime<Utc>,
) -> (Connection, connector::vault::SealedTokens) {
    let (access, refresh) = stack.simulator().issue_directly(
        "sim-ada-7f3k",
        &["openid", "profile", "email", "w_member_social"],
        Duration::from_secs(3600),
    );
    let tenant = TenantId::parse(&format!("bench-{i}")).expect("tenant");
    let id = ConnectionId::new();
    let connection = Connection {
        id,
        tenant_id: tenant.clone(),
        platform: PLATFORM,
        member_urn: MemberUrn::from_member_id("sim-ada-7f3k"),
        name: "Ada Lovelace".into(),
        email: None,
        picture: None,
        status: ConnectionStatus::Healthy,
        reason: None,
        app: Default::default(),
        scopes: vec!["openid".into(), "profile".into()],
        missing_scopes: vec![],
        access_token_expires_at: now + chrono::Duration::days(59),
        refresh_token_expires_at: Some(now + chrono::Duration::days(364)),
        authorized_at: now - chrono::Duration::hours(1),
        last_health_check_at: None,
        last_health_error: None,
        next_health_check_at: Some(now),
        organizations: vec![],
        created_at: now,
        updated_at: now,
        connect_count: 1,
        token_issued_at: now - chrono::Duration::hours(1),
        refresh_lease_until: None,
        throttled_until: None,
        reconnect_due: None,
        version: 1,
    };
    let sealed = stack
        .oauth
        .vault
        .seal(
            &VaultContext::new(&tenant, id),
            &TokenSet {
                access_token: SecretString::from(access),
                refresh_token: Some(SecretString::from(refresh)),
            },
        )
        .await
        .expect("seal");
    (connection, sealed)
}

/// Times `SAMPLE` health checks and refreshes, one at a time, on connections from shard 0.
async fn time_operations(
    stack: &LocalStack,
    as_of: chrono::DateTime<Utc>,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    const SAMPLE: i32 = 100;
    let keeper = &stack.refresher.keeper;
    let (due, _) = keeper
        .connections
        .due_for_health(0, as_of, SAMPLE, None)
        .await?;
    let mut checks = Vec::new();
    for (tenant, id) in &due {
        let started = Instant::now();
        health_function::check(&stack.health, tenant, *id, as_of).await?;
        checks.push(started.elapsed());
    }
    let mut refreshes = Vec::new();
    for (tenant, id) in due.iter().take(SAMPLE as usize / 2) {
        let stored = keeper
            .connections
            .get_stored_connection(tenant, *id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("connection {id} vanished"))?;
        let started = Instant::now();
        keeper.refresh(stored, Utc::now()).await?;
        refreshes.push(started.elapsed());
    }
    Ok((checks, refreshes))
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    if samples.is_empty() {
        return "-".into();
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    format!(
        "{:.0} / {:.0} ms ({} samples)",
        at(0.5).as_secs_f64() * 1000.0,
        at(0.95).as_secs_f64() * 1000.0,
        samples.len()
    )
}

async fn first_connection(stack: &LocalStack) -> anyhow::Result<(TenantId, ConnectionId)> {
    let (due, _) = stack
        .refresher
        .keeper
        .connections
        .due_for_health(0, Utc::now() + chrono::Duration::days(1), 1, None)
        .await?;
    due.into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no connection in shard 0"))
}

/// `consumers` pollers, as Lambda's SQS source with MaximumConcurrency would run, until the
/// health queue stays empty.
async fn drain(stack: &Arc<LocalStack>, consumers: usize) {
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let consumer = poller::health(stack.health.clone());
    let url = stack.health.queue_url.clone();
    futures::future::join_all((0..consumers).map(|_| {
        let (sqs, consumer, url) = (sqs.clone(), consumer.clone(), url.clone());
        async move {
            let mut idle = 0;
            while idle < 3 {
                let got = poller::poll_once(&sqs, &url, &consumer, 10, 1).await;
                idle = if got == 0 { idle + 1 } else { 0 };
            }
        }
    }))
    .await;
}
