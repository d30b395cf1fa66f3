//! `make bench-media`: publishes a video (default 200 MB, `BENCH_VIDEO_BYTES`) through the
//! publisher against the simulator, as Lambda would invoke it (the template's 60 s deadline),
//! and prints the process's peak memory growth (VmHWM from /proc/self/status after the upload,
//! minus VmHWM measured in the same run before it, after a small warm-up video) and the
//! LinkedIn and AWS calls the post cost. The tenant's host (the stack's CDN), the simulator
//! and the publisher share this process: the figure bounds what the publisher held.

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use connector::domain::posts::{MediaItem, MediaKind, PostId};
use connector::domain::TenantId;
use local_stack::moto::MotoServer;
use local_stack::{LocalStack, StackOptions};
use serde_json::{json, Value};

const TENANT: &str = "bench";

/// The process's peak resident set so far, in KiB.
fn vm_hwm_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("VmHWM in /proc/self/status")
}

/// One video post, queued; returns its id.
async fn queue_video(stack: &LocalStack, connection: &str, bytes: u64) -> anyhow::Result<String> {
    let (status, body) = stack
        .create_post(
            TENANT,
            json!({ "connection_id": connection, "text": format!("Benchmark video of {bytes} bytes ({})", uuid::Uuid::new_v4()) }),
            None,
        )
        .await;
    anyhow::ensure!(status == 202, "create: {status} {body}");
    let id = body["id"].as_str().context("post id")?.to_owned();
    // The API's request parsing for videos belongs to another change; the item is set on the
    // stored post, as the API would store it.
    let tenant = TenantId::parse(TENANT).context("tenant")?;
    let posts = &stack.publisher.posts;
    let post = posts
        .get(&tenant, PostId::parse(&id).context("id")?)
        .await?
        .context("post")?;
    let mut next = post.with_media_urns(Vec::new(), Utc::now());
    next.media = vec![MediaItem {
        kind: MediaKind::Video,
        ..MediaItem::image(stack.cdn.url(&format!("/gen/mp4/{bytes}")), None)
    }];
    posts.replace(&next).await?;
    Ok(id)
}

/// Runs the publisher over the queue until the post is published; returns the time it took
/// and how many times the benchmark read the post.
async fn publish(stack: &LocalStack, id: &str) -> anyhow::Result<(Duration, usize)> {
    let started = Instant::now();
    let mut reads = 0;
    loop {
        stack.run_publish_queue().await;
        let post: Value = stack.post(TENANT, id).await;
        reads += 1;
        match post["status"].as_str() {
            Some("published") => return Ok((started.elapsed(), reads)),
            Some("failed") => anyhow::bail!("post failed: {post}"),
            _ if started.elapsed() > Duration::from_secs(600) => anyhow::bail!("stuck: {post}"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// A path with its URN or upload token replaced by a placeholder.
fn route_of(path: &str) -> String {
    for prefix in [
        "/_media/videos/",
        "/_media/documents/",
        "/rest/videos/",
        "/rest/documents/",
    ] {
        if path.starts_with(prefix) && path.len() > prefix.len() {
            return format!("{prefix}{{id}}");
        }
    }
    path.to_owned()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let bytes: u64 = std::env::var("BENCH_VIDEO_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200 * 1024 * 1024);
    let moto = tokio::task::spawn_blocking(|| MotoServer::start(0)).await??;
    let unique = uuid::Uuid::new_v4();
    let mut options = StackOptions {
        aws_endpoint: Some(moto.endpoint.clone()),
        run_publisher: false,
        ..StackOptions::default()
    };
    // Processing is instant: the figure is the upload's, not the wait's.
    options.simulator.video_processing = Duration::ZERO;
    for name in ["TABLE_NAME", "PUBLISH_QUEUE_NAME"] {
        options
            .settings
            .insert(name.into(), format!("bench-{unique}"));
    }
    let stack = LocalStack::start(options).await?;
    let connection = stack.connect(TENANT, None).await;

    // Warm-up: every code path once, with a small video.
    let warm = queue_video(&stack, &connection, 1024 * 1024).await?;
    publish(&stack, &warm).await?;

    let id = queue_video(&stack, &connection, bytes).await?;
    let sim = stack.simulator();
    let linkedin_before = sim.requests().len();
    let counter = stack.aws_calls().clone();
    counter.take();
    let baseline = vm_hwm_kib()?;
    let (took, reads) = publish(&stack, &id).await?;
    let peak = vm_hwm_kib()?;
    let linkedin: Vec<String> = sim.requests()[linkedin_before..]
        .iter()
        .map(|r| format!("{} {}", r.method, route_of(&r.path)))
        .collect();
    let mut aws = counter.take();
    // Lambda's event source mapping receives and deletes, not the function; the benchmark's
    // status polls are the API's GetItem.
    aws.retain(|op, _| {
        !op.starts_with("SQS.ReceiveMessage") && !op.starts_with("SQS.DeleteMessage")
    });
    if let Some(gets) = aws.get_mut("DynamoDB.GetItem") {
        *gets = gets.saturating_sub(reads);
    }
    let parts = bytes.div_ceil(linkedin_simulator::VIDEO_PART_BYTES);
    println!(
        "video of {bytes} bytes ({parts} parts), published in {:.1} s",
        took.as_secs_f64()
    );
    println!(
        "peak memory: VmHWM {} MiB after, {} MiB before: {} MiB more for the upload",
        peak / 1024,
        baseline / 1024,
        peak.saturating_sub(baseline) / 1024
    );
    let mut by_call: std::collections::BTreeMap<String, usize> = Default::default();
    for call in &linkedin {
        *by_call.entry(call.clone()).or_default() += 1;
    }
    println!("LinkedIn calls: {} ({by_call:?})", linkedin.len());
    println!(
        "AWS calls by the publisher: {} ({aws:?})",
        aws.values().sum::<usize>()
    );
    drop(moto);
    Ok(())
}
