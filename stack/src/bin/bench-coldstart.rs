//! `make bench-coldstart`: every function's cold start beside two baselines, in one run.
//!
//! It builds nothing: `make bench-coldstart` first runs `cargo build --release` for the eight
//! functions and the baselines (`bench/coldstart`: `coldstart-hello`, the Lambda runtime
//! alone, and `coldstart-hello-sdk`, which also loads the SDK's configuration and builds one
//! DynamoDB client), and this reads them from its own directory (`target/release`, or
//! `COLDSTART_BIN_DIR`).
//!
//! A stand-in Lambda Runtime API listens on loopback. Each binary is spawned with the
//! environment a function needs to start (plain secrets, so no Secrets Manager call; the AWS
//! endpoint pointed at a closed loopback port, though nothing is called at init); its init is
//! the time from the spawn to its first `GET /2018-06-01/runtime/invocation/next`. Then its
//! peak resident set (VmHWM from /proc/<pid>/status: the peak up to the end of init) is read
//! and the process killed. Runs are interleaved (every binary once, then again, starting one
//! further each round), `COLDSTART_RUNS` times (default 15) after one warm-up round, and the
//! table shows medians and the ratio of each init to the SDK baseline's.
//!
//! Exits non-zero when a function's init ratio exceeds `COLDSTART_MAX_RATIO` (default 1.2): a
//! budget, like a test, but a benchmark (timings on a shared machine), so not in `make test`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::extract::Request;
use tokio::sync::mpsc;

/// The functions measured, in the order of the table.
const FUNCTIONS: &[&str] = &[
    "oauth",
    "api",
    "publisher",
    "refresher",
    "health",
    "reconciler",
    "events",
    "notifier",
];
/// The Lambda runtime alone.
const HELLO: &str = "coldstart-hello";
/// The Lambda runtime, the SDK's configuration and one client: the budget's baseline.
const HELLO_SDK: &str = "coldstart-hello-sdk";

/// How long a binary may take to ask for its first event before the run fails.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

const NEXT: &str = "/2018-06-01/runtime/invocation/next";

/// What the stand-in Runtime API saw: a request's path and when it arrived.
type Seen = (String, Instant);

/// One cold start.
struct Sample {
    init: Duration,
    peak_rss_kib: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs: usize = env_or("COLDSTART_RUNS", 15)?;
    let max_ratio: f64 = env_or("COLDSTART_MAX_RATIO", 1.2)?;
    let dir = match std::env::var_os("COLDSTART_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_exe()?
            .parent()
            .context("the benchmark's directory")?
            .to_path_buf(),
    };
    let binaries: Vec<&str> = FUNCTIONS
        .iter()
        .copied()
        .chain([HELLO, HELLO_SDK])
        .collect();
    for name in &binaries {
        let path = dir.join(name);
        anyhow::ensure!(
            path.is_file(),
            "{} is missing: build it first (`make bench-coldstart` runs \
             `cargo build --release --bin {name} ..`)",
            path.display()
        );
    }

    let (runtime_api, mut seen) = runtime_api().await?;
    println!(
        "cold start: {} binaries from {}, {runs} interleaved runs (+1 warm-up), \
         stand-in Runtime API on {runtime_api}",
        binaries.len(),
        dir.display()
    );

    let mut samples: Vec<Vec<Sample>> = binaries.iter().map(|_| Vec::new()).collect();
    for round in 0..=runs {
        for i in 0..binaries.len() {
            // Each round starts one further along, so no binary always follows the same one.
            let at = (i + round) % binaries.len();
            let sample = cold_start(&dir.join(binaries[at]), runtime_api, &mut seen)
                .await
                .with_context(|| format!("{} (round {round})", binaries[at]))?;
            if round > 0 {
                samples[at].push(sample);
            }
        }
    }

    let rows: Vec<Row> = binaries
        .iter()
        .zip(samples)
        .map(|(name, samples)| Row::new(name, &dir.join(name), samples))
        .collect::<anyhow::Result<_>>()?;
    let baseline = rows
        .iter()
        .find(|r| r.name == HELLO_SDK)
        .context("the SDK baseline")?;
    let (base_init, base_size, base_rss) = (baseline.init, baseline.size, baseline.peak_rss_kib);

    println!(
        "\n{:<20} {:>9} {:>11} {:>11} {:>10} {:>10} {:>8} {:>8}",
        "binary", "size", "init p50", "init min", "peak RSS", "init ×", "size ×", "RSS ×"
    );
    let mut over = Vec::new();
    for row in &rows {
        let ratio = row.init.as_secs_f64() / base_init.as_secs_f64();
        println!(
            "{:<20} {:>6.1} MB {:>8.2} ms {:>8.2} ms {:>7.1} MB {:>9.2}× {:>7.2}× {:>7.2}×",
            row.name,
            row.size as f64 / 1e6,
            ms(row.init),
            ms(row.init_min),
            row.peak_rss_kib as f64 / 1024.0,
            ratio,
            row.size as f64 / base_size as f64,
            row.peak_rss_kib as f64 / base_rss as f64,
        );
        if FUNCTIONS.contains(&row.name) && ratio > max_ratio {
            over.push(format!("{} {ratio:.2}×", row.name));
        }
    }
    println!(
        "\ninit: spawn to the first GET {NEXT} (median of {runs}); peak RSS: VmHWM at that \
         moment (median); × is against {HELLO_SDK} (runtime + SDK config + one client)"
    );
    if !over.is_empty() {
        bail!(
            "over the budget of {max_ratio}× {HELLO_SDK}'s init (COLDSTART_MAX_RATIO): {}",
            over.join(", ")
        );
    }
    println!("every function within {max_ratio}× {HELLO_SDK}'s init");
    Ok(())
}

/// A binary's medians.
struct Row {
    name: &'static str,
    size: u64,
    init: Duration,
    init_min: Duration,
    peak_rss_kib: u64,
}

impl Row {
    fn new(name: &'static str, path: &Path, samples: Vec<Sample>) -> anyhow::Result<Self> {
        let mut inits: Vec<Duration> = samples.iter().map(|s| s.init).collect();
        let mut peaks: Vec<u64> = samples.iter().map(|s| s.peak_rss_kib).collect();
        inits.sort();
        peaks.sort();
        Ok(Self {
            name,
            size: std::fs::metadata(path)?.len(),
            init: median(&inits).context("no samples")?,
            init_min: *inits.first().context("no samples")?,
            peak_rss_kib: median(&peaks).context("no samples")?,
        })
    }
}

fn median<T: Copy>(sorted: &[T]) -> Option<T> {
    sorted.get(sorted.len() / 2).copied()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={v:?} is not a number")),
        Err(_) => Ok(default),
    }
}

/// The stand-in Runtime API: every request is reported (path, arrival) and then left waiting,
/// as Lambda leaves `next` waiting until an event comes; the benchmark kills the process first.
async fn runtime_api() -> anyhow::Result<(std::net::SocketAddr, mpsc::UnboundedReceiver<Seen>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(move |request: Request| {
        let arrived = Instant::now();
        let _ = tx.send((request.uri().path().to_owned(), arrived));
        async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            http::StatusCode::SERVICE_UNAVAILABLE
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok((addr, rx))
}

/// Spawns `binary`, waits for its first `next`, reads its peak RSS and kills it.
async fn cold_start(
    binary: &Path,
    runtime_api: std::net::SocketAddr,
    seen: &mut mpsc::UnboundedReceiver<Seen>,
) -> anyhow::Result<Sample> {
    // Whatever a previous (killed) process had in flight is not this one's.
    while seen.try_recv().is_ok() {}
    let mut command = tokio::process::Command::new(binary);
    command
        .env_clear()
        .envs(function_env(runtime_api))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let spawned = Instant::now();
    let mut child = command.spawn()?;
    let pid = child.id().context("pid")?;
    let outcome = tokio::select! {
        request = seen.recv() => match request {
            Some((path, arrived)) if path == NEXT => Ok(arrived - spawned),
            Some((path, _)) => Err(format!("asked {path} before {NEXT}")),
            None => Err("the stand-in Runtime API stopped".into()),
        },
        status = child.wait() => Err(format!("exited during init ({status:?})")),
        _ = tokio::time::sleep(INIT_TIMEOUT) => Err(format!("no {NEXT} within {INIT_TIMEOUT:?}")),
    };
    let peak = vm_hwm_kib(pid);
    let _ = child.start_kill();
    let output = child.wait_with_output().await?;
    match outcome {
        Ok(init) => Ok(Sample {
            init,
            peak_rss_kib: peak?,
        }),
        Err(why) => bail!(
            "{why}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// Peak resident set of process `pid` so far, in KiB.
fn vm_hwm_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmHWM in /proc/<pid>/status")
}

/// What every function needs to start, as Lambda and the template give it (the same for all,
/// baselines included): secrets in plain variables so init calls no Secrets Manager, the AWS
/// endpoint on a loopback port nothing listens on (init calls no AWS service).
fn function_env(runtime_api: std::net::SocketAddr) -> Vec<(&'static str, String)> {
    let queue = |name: &str| format!("http://127.0.0.1:9/123456789012/linkedin-connector-{name}");
    let mut env: Vec<(&'static str, String)> = vec![
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", "coldstart".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/coldstart".into()),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench".into()),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_SESSION_TOKEN", "test".into()),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9".into()),
        ("TZ", ":UTC".into()),
        ("LINKEDIN_CLIENT_ID", "coldstart-client-id".into()),
        ("LINKEDIN_CLIENT_SECRET", "coldstart-client-secret".into()),
        (
            "LINKEDIN_REDIRECT_URI",
            "https://api.example.com/v1/oauth/linkedin/callback".into(),
        ),
        ("TABLE_NAME", "linkedin-connector".into()),
        ("TOKEN_KEY_ID", "alias/linkedin-connector-tokens".into()),
        ("PUBLISH_QUEUE_URL", queue("publish")),
        ("HEALTH_QUEUE_URL", queue("health")),
        ("WEBHOOK_QUEUE_URL", queue("webhooks")),
        (
            "PUBLISH_QUEUE_ARN",
            "arn:aws:sqs:us-east-1:123456789012:linkedin-connector-publish".into(),
        ),
        (
            "PUBLISH_DLQ_ARN",
            "arn:aws:sqs:us-east-1:123456789012:linkedin-connector-publish-dlq".into(),
        ),
        ("SCHEDULE_GROUP", "linkedin-connector".into()),
        (
            "SCHEDULER_ROLE_ARN",
            "arn:aws:iam::123456789012:role/linkedin-connector-scheduler".into(),
        ),
        (
            "REFRESHER_ARN",
            "arn:aws:lambda:us-east-1:123456789012:function:linkedin-connector-refresher".into(),
        ),
        ("WEBHOOK_SIGNING_SECRET", "coldstart-webhook-secret".into()),
    ];
    // The root certificates' locations, where the host has moved them (Lambda's are standard).
    for name in ["SSL_CERT_FILE", "SSL_CERT_DIR"] {
        if let Ok(value) = std::env::var(name) {
            env.push((name, value));
        }
    }
    env
}
