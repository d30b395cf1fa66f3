//! `make bench`: publishes posts through the local pipeline and reports, per post, the AWS calls
//! by service, the LinkedIn calls, the publisher's CPU time, and the end-to-end latency above
//! the simulator's injected LinkedIn latency; then the calls of one scheduled post, delete,
//! edit, refresh, health check and connect. Timings are reported, never judged (this machine's
//! are noisy); the call counts are held to budgets ([`BUDGETS`]) and the run exits non-zero
//! when one is exceeded, so a change that adds a call is noticed.
//!
//! `BENCH_POSTS` (default 40 text + 10 image posts per latency), `BENCH_LATENCIES_MS`
//! (default "0,150").

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use local_stack::counting::Counter;
use local_stack::moto::MotoServer;
use local_stack::{LocalStack, StackOptions};
use reqwest::Method;
use serde_json::{json, Value};

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if values.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (values.len() as f64 - 1.0)).round() as usize;
    values[rank]
}

/// Runs the publisher on a thread of its own, so its CPU time can be read from that thread.
///
/// The thread's runtime runs all the time, not only while it handles an event: the publisher's
/// HTTP clients pool connections whose tasks live on the runtime that opened them, and the
/// throughput phases use the same publisher from the main runtime. A runtime idle between
/// events left such a pooled connection undriven, and the first request sent over it waited for
/// its 10 s timeout (the "first-phase retry" earlier runs showed).
struct HandlerThread {
    jobs: tokio::sync::mpsc::UnboundedSender<(
        aws_lambda_events::event::sqs::SqsEvent,
        tokio::sync::oneshot::Sender<(usize, Duration)>,
    )>,
}

impl HandlerThread {
    fn start(publisher: Arc<publisher_function::Publisher>) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(
            aws_lambda_events::event::sqs::SqsEvent,
            tokio::sync::oneshot::Sender<(usize, Duration)>,
        )>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                while let Some((event, reply)) = rx.recv().await {
                    let before = thread_cpu();
                    let response = publisher_function::handle(
                        event,
                        &publisher,
                        connector::deadline::Deadline::none(),
                    )
                    .await;
                    let _ = reply.send((response.batch_item_failures.len(), thread_cpu() - before));
                }
            });
        });
        Self { jobs: tx }
    }

    async fn handle(&self, event: aws_lambda_events::event::sqs::SqsEvent) -> (usize, Duration) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs.send((event, tx)).expect("handler thread");
        rx.await.expect("handler reply")
    }
}

struct Sample {
    linkedin_calls: usize,
    /// Reads of the shared app-throttle record (one per instance per 10 s, whoever's post
    /// meets it): left out of `aws`, reported apart.
    throttle_reads: usize,
    aws: BTreeMap<String, usize>,
    cpu: Duration,
    above_linkedin: Duration,
}

/// The tenant the benchmark publishes as.
const TENANT: &str = "bench";

/// The most AWS calls an operation may cost, end to end (issue 14's budgets).
const BUDGETS: &[(&str, f64)] = &[("text", 5.0), ("image", 6.0)];
/// A refresh: at most one LinkedIn call, three DynamoDB calls and two KMS calls.
const REFRESH_BUDGET: (usize, usize, usize) = (1, 3, 2);
/// KMS Decrypts per publish of one connection, at most (the data key is cached).
const KMS_PER_PUBLISH: f64 = 0.01;

/// The calls one operation made: AWS by operation, LinkedIn.
struct Calls {
    aws: BTreeMap<String, usize>,
    linkedin: usize,
}

impl Calls {
    fn service(&self, service: &str) -> usize {
        self.aws
            .iter()
            .filter(|(op, _)| op.starts_with(&format!("{service}.")))
            .map(|(_, n)| n)
            .sum()
    }

    fn total(&self) -> usize {
        self.aws.values().sum()
    }

    fn print(&self, name: &str) {
        println!(
            "| {name} | {} | {} | {} |",
            self.linkedin,
            self.total(),
            self.aws
                .iter()
                .map(|(o, c)| format!("{o} {c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// Runs `op`, then the publish queue until it is empty, and returns the calls all of it made
/// (the benchmark's own queue reads left out).
async fn measure<F: std::future::Future<Output = anyhow::Result<()>>>(
    stack: &LocalStack,
    handler: &HandlerThread,
    counter: &Counter,
    op: F,
) -> anyhow::Result<Calls> {
    let sim = stack.simulator();
    let before = sim.requests().len();
    counter.take();
    op.await?;
    drain(stack, handler).await?;
    let mut aws = counter.take();
    aws.retain(|op, _| {
        !op.starts_with("SQS.ReceiveMessage") && !op.starts_with("SQS.DeleteMessage")
    });
    Ok(Calls {
        aws,
        linkedin: sim.requests().len() - before,
    })
}

/// Runs the publisher over the publish queue until a receive finds nothing.
async fn drain(stack: &LocalStack, handler: &HandlerThread) -> anyhow::Result<()> {
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let queue = stack.config.publish_queue_url.clone().context("queue")?;
    while receive_and_handle(&sqs, &queue, handler).await?.0 > 0 {}
    Ok(())
}

/// One receive from the publish queue (up to 10 messages, waiting up to 1 s), each message
/// handled by the publisher as the event source mapping would hand it, and deleted once
/// handled. Returns how many were received and the publisher's CPU time for them.
async fn receive_and_handle(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    handler: &HandlerThread,
) -> anyhow::Result<(usize, Duration)> {
    let received = sqs
        .receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await?;
    let messages = received.messages.unwrap_or_default();
    let mut cpu = Duration::ZERO;
    for m in &messages {
        let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
        record.message_id = m.message_id().map(str::to_owned);
        record.receipt_handle = m.receipt_handle().map(str::to_owned);
        record.body = m.body().map(str::to_owned);
        let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
        event.records = vec![record];
        let (failures, used) = handler.handle(event).await;
        cpu += used;
        if failures == 0 {
            sqs.delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await?;
        }
    }
    Ok((messages.len(), cpu))
}

/// Posts per second through the publisher: `n` text posts accepted by the API first (not
/// timed), then the queue drained by `consumers` concurrent instances taking batches of 10 (an
/// instance handles a batch's messages concurrently). Returns posts per second, and AWS and
/// KMS calls per post of the publishing.
async fn throughput(
    stack: &LocalStack,
    counter: &Counter,
    connection: &str,
    n: usize,
    consumers: usize,
    tag: &str,
) -> anyhow::Result<(f64, f64, f64)> {
    let sim = stack.simulator();
    let made_before = sim.posts().len();
    for i in 0..n {
        let body = json!({ "connection_id": connection, "text": format!("Throughput {tag} {i}") });
        let answer = stack
            .request(Method::POST, TENANT, "/v1/posts")
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(answer.status().as_u16() == 202, "not accepted");
    }
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let queue = stack.config.publish_queue_url.clone().context("queue")?;
    let consumer = local_stack::poller::publisher(stack.publisher.clone());
    counter.take();
    let started = Instant::now();
    while sim.posts().len() < made_before + n {
        let handled: usize = futures::future::join_all(
            (0..consumers).map(|_| local_stack::poller::poll_once(&sqs, &queue, &consumer, 10, 0)),
        )
        .await
        .into_iter()
        .sum();
        if handled == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the posts never all went out"
        );
    }
    let elapsed = started.elapsed().as_secs_f64();
    let aws = counter.take();
    let product: usize = aws
        .iter()
        .filter(|(op, _)| {
            !op.starts_with("SQS.ReceiveMessage") && !op.starts_with("SQS.DeleteMessage")
        })
        .map(|(_, c)| c)
        .sum();
    let kms: usize = aws
        .iter()
        .filter(|(op, _)| op.starts_with("KMS."))
        .map(|(_, c)| c)
        .sum();
    Ok((
        n as f64 / elapsed,
        product as f64 / n as f64,
        kms as f64 / n as f64,
    ))
}

/// The calls of one scheduled post, delete, edit, refresh, health check and connect, printed,
/// and the budgets they broke.
async fn other_operations(
    stack: &LocalStack,
    handler: &HandlerThread,
    counter: &Counter,
    connection: &str,
    unique: uuid::Uuid,
) -> anyhow::Result<Vec<String>> {
    let mut broken = Vec::new();
    println!();
    println!("| operation | LinkedIn calls | AWS calls | AWS calls by operation |");
    println!("|---|---|---|---|");
    let post = |text: String| json!({ "connection_id": connection, "text": text });
    let create = |body: Value| accept(stack, body);
    // A scheduled post: accepted with its schedule, then its schedule fires and it goes out.
    let at = stack.now() + chrono::Duration::minutes(5);
    let mut scheduled = post(format!("Scheduled ({unique})"));
    scheduled["scheduled_at"] = json!(local_stack::rfc3339(at));
    let mut calls = measure(stack, handler, counter, async {
        create(scheduled).await?;
        Ok(())
    })
    .await?;
    // The local scheduler's own reads and its delivery are EventBridge's work, not ours.
    stack.advance(chrono::Duration::minutes(6));
    stack.scheduler.fire_due().await?;
    counter.take();
    let published = measure(stack, handler, counter, async { Ok(()) }).await?;
    for (op, n) in published.aws {
        *calls.aws.entry(op).or_default() += n;
    }
    calls.linkedin += published.linkedin;
    calls.print("scheduled post (accept, then publish when it fires)");
    // Edit and delete a published post.
    let id = create(post(format!("To edit and delete ({unique})"))).await?;
    drain(stack, handler).await?;
    let calls = measure(stack, handler, counter, async {
        stack
            .request(Method::PATCH, TENANT, &format!("/v1/posts/{id}"))
            .json(&json!({ "text": format!("Edited ({unique})") }))
            .send()
            .await?;
        Ok(())
    })
    .await?;
    calls.print("edit");
    let calls = measure(stack, handler, counter, async {
        stack
            .request(Method::DELETE, TENANT, &format!("/v1/posts/{id}"))
            .send()
            .await?;
        Ok(())
    })
    .await?;
    calls.print("delete");
    // A refresh through the one single-flight path.
    let (tenant, connection_id) = (
        connector::domain::TenantId::parse(TENANT).context("tenant")?,
        connector::domain::ConnectionId::parse(connection).context("connection")?,
    );
    let stored = stack
        .oauth
        .store
        .get_stored_connection(&tenant, connection_id)
        .await?
        .context("the connection")?;
    let calls = measure(stack, handler, counter, async {
        stack
            .refresher
            .keeper
            .refresh(stored, chrono::Utc::now())
            .await?;
        Ok(())
    })
    .await?;
    calls.print("refresh");
    let (linkedin, dynamodb, kms) = REFRESH_BUDGET;
    if calls.linkedin > linkedin
        || calls.service("DynamoDB") > dynamodb
        || calls.service("KMS") > kms
    {
        broken.push(format!(
            "refresh: {} LinkedIn, {} DynamoDB, {} KMS calls (budget {linkedin}, {dynamodb}, {kms})",
            calls.linkedin,
            calls.service("DynamoDB"),
            calls.service("KMS")
        ));
    }
    // A health check of the connection (after its propagation window).
    let calls = measure(stack, handler, counter, async {
        health_function::check(
            &stack.health,
            &tenant,
            connection_id,
            chrono::Utc::now() + chrono::Duration::hours(7),
        )
        .await?;
        Ok(())
    })
    .await?;
    calls.print("health check");
    // A connect (another member): authorization, consent, callback.
    let calls = measure(stack, handler, counter, async {
        stack.connect(TENANT, Some("sim-grace-9q2w")).await;
        Ok(())
    })
    .await?;
    calls.print("connect");
    Ok(broken)
}

/// `POST /v1/posts` as the benchmark's tenant; the new post's id.
async fn accept(stack: &LocalStack, body: Value) -> anyhow::Result<String> {
    let created: Value = stack
        .request(Method::POST, TENANT, "/v1/posts")
        .json(&body)
        .send()
        .await?
        .json()
        .await?;
    Ok(created["id"].as_str().context("post id")?.to_owned())
}

async fn publish_one(
    stack: &LocalStack,
    handler: &HandlerThread,
    counter: &Counter,
    body: Value,
    latency: Duration,
) -> anyhow::Result<Sample> {
    let sim = stack.simulator();
    let before = sim.requests().len();
    counter.take();
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let queue = stack.config.publish_queue_url.clone().context("queue")?;
    let throttle_reads_before = stack.publisher.throttle.reads();
    let started = Instant::now();
    let id = accept(stack, body).await?;
    let mut cpu = Duration::ZERO;
    let mut polls = 0;
    // Drive the queue the way the event source mapping does, until the post is done.
    loop {
        cpu += receive_and_handle(&sqs, &queue, handler).await?.1;
        polls += 1;
        let post: Value = stack
            .request(Method::GET, TENANT, &format!("/v1/posts/{id}"))
            .send()
            .await?
            .json()
            .await?;
        match post["status"].as_str() {
            Some("published") => break,
            Some("failed") => anyhow::bail!("post failed: {post}"),
            _ => {}
        }
    }
    let elapsed = started.elapsed();
    let linkedin_calls = sim.requests().len() - before;
    let mut aws = counter.take();
    // The benchmark's own polling is not the product's cost.
    aws.retain(|op, _| {
        !op.starts_with("SQS.ReceiveMessage") && !op.starts_with("SQS.DeleteMessage")
    });
    // Each status poll of the benchmark is one GetItem by the API function, and one UpdateItem
    // of the tenant's request counter.
    let throttle_reads = stack.publisher.throttle.reads() - throttle_reads_before;
    for (op, not_the_post_s) in [
        ("DynamoDB.GetItem", polls + throttle_reads),
        ("DynamoDB.UpdateItem", polls),
    ] {
        if let Some(n) = aws.get_mut(op) {
            *n = n.saturating_sub(not_the_post_s);
        }
        if aws.get(op) == Some(&0) {
            aws.remove(op);
        }
    }
    Ok(Sample {
        linkedin_calls,
        throttle_reads,
        aws,
        cpu,
        above_linkedin: elapsed.saturating_sub(latency * linkedin_calls as u32),
    })
}

/// Prints the samples' figures; returns the AWS calls per post.
fn report(kind: &str, latency: Duration, samples: &[Sample]) -> f64 {
    let n = samples.len() as f64;
    let mut by_service: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_op: BTreeMap<String, usize> = BTreeMap::new();
    for s in samples {
        for (op, count) in &s.aws {
            *by_service
                .entry(op.split('.').next().unwrap_or("?").to_owned())
                .or_default() += count;
            *by_op.entry(op.clone()).or_default() += count;
        }
    }
    let linkedin: f64 = samples.iter().map(|s| s.linkedin_calls as f64).sum::<f64>() / n;
    let mut cpu: Vec<f64> = samples
        .iter()
        .map(|s| s.cpu.as_secs_f64() * 1000.0)
        .collect();
    let mut e2e: Vec<f64> = samples
        .iter()
        .map(|s| s.above_linkedin.as_secs_f64() * 1000.0)
        .collect();
    println!(
        "| {kind} | {} ms | {} | {linkedin:.1} | {} | {:.2} / {:.2} | {:.0} / {:.0} |",
        latency.as_millis(),
        samples.len(),
        by_service
            .iter()
            .map(|(s, c)| format!("{s} {:.1}", *c as f64 / n))
            .collect::<Vec<_>>()
            .join(", "),
        percentile(&mut cpu, 50.0),
        percentile(&mut cpu, 95.0),
        percentile(&mut e2e, 50.0),
        percentile(&mut e2e, 95.0),
    );
    eprintln!(
        "  {kind} @ {} ms, AWS calls per post by operation: {}",
        latency.as_millis(),
        by_op
            .iter()
            .map(|(o, c)| format!("{o} {:.1}", *c as f64 / n))
            .collect::<Vec<_>>()
            .join(", ")
    );
    by_op.values().sum::<usize>() as f64 / n
}

/// KMS calls per publish across `samples`.
fn kms_per_publish(samples: &[&Sample]) -> f64 {
    let kms: usize = samples
        .iter()
        .flat_map(|s| s.aws.iter())
        .filter(|(op, _)| op.starts_with("KMS."))
        .map(|(_, n)| n)
        .sum();
    kms as f64 / samples.len().max(1) as f64
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let posts: usize = std::env::var("BENCH_POSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let latencies: Vec<u64> = std::env::var("BENCH_LATENCIES_MS")
        .unwrap_or_else(|_| "0,150".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    // `RUST_LOG=publisher_function=info` shows what the product logs (to stderr).
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let moto = tokio::task::spawn_blocking(|| MotoServer::start(0)).await??;

    let mut broken: Vec<String> = Vec::new();
    println!("| kind | LinkedIn latency | posts | LinkedIn calls/post | AWS calls/post | publisher CPU ms p50 / p95 | end-to-end ms above LinkedIn p50 / p95 |");
    println!("|---|---|---|---|---|---|---|");
    let mut first = true;
    for latency_ms in latencies {
        let latency = Duration::from_millis(latency_ms);
        let unique = uuid::Uuid::new_v4();
        let mut options = StackOptions {
            aws_endpoint: Some(moto.endpoint.clone()),
            run_publisher: false,
            // The functions' EMF lines are kept, not printed amid the tables.
            capture_metrics: true,
            ..StackOptions::default()
        };
        options
            .settings
            .insert("TABLE_NAME".into(), format!("bench-{unique}"));
        options
            .settings
            .insert("PUBLISH_QUEUE_NAME".into(), format!("bench-{unique}"));
        let stack = LocalStack::start(options).await?;
        let counter = stack.aws_calls().clone();
        // Connect one account (not measured).
        let connection = stack.connect(TENANT, None).await;
        stack.simulator().configure(|c| {
            c.latency = latency;
            c.member_daily_post_limit = u32::MAX;
        });
        let handler = HandlerThread::start(stack.publisher.clone());

        let mut text = Vec::new();
        for i in 0..posts {
            let body = json!({ "connection_id": connection, "text": format!("Benchmark post {i} ({unique})") });
            text.push(publish_one(&stack, &handler, &counter, body, latency).await?);
        }
        // The first post of a connection on an instance reads the connection and unwraps its
        // data key; the budgets are of the posts after it (see the README's figures).
        let first_post = text.remove(0);
        report(
            "text, the connection's first on this instance",
            latency,
            std::slice::from_ref(&first_post),
        );
        let per_text = report("text", latency, &text);
        let mut image = Vec::new();
        for i in 0..posts.div_ceil(4) {
            let body = json!({
                "connection_id": connection,
                "text": format!("Benchmark image post {i} ({unique})"),
                "media": [{ "type": "image", "url": stack.cdn.url(&format!("/img/{i}.png")) }],
            });
            image.push(publish_one(&stack, &handler, &counter, body, latency).await?);
        }
        let per_image = report("image", latency, &image);
        for (kind, per_post) in [("text", per_text), ("image", per_image)] {
            let budget = BUDGETS
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or(0.0, |b| b.1);
            if per_post > budget {
                broken.push(format!(
                    "{kind} post @ {latency_ms} ms: {per_post:.2} AWS calls (budget {budget})"
                ));
            }
        }
        let publishes: Vec<&Sample> = std::iter::once(&first_post)
            .chain(&text)
            .chain(&image)
            .collect();
        let throttle_reads: usize = publishes.iter().map(|s| s.throttle_reads).sum();
        println!(
            "reads of the shared app-throttle record: {throttle_reads} over these {} publishes (once per instance per {} s, not per post)",
            publishes.len(),
            publisher_function::throttle::APP_THROTTLE_TTL.as_secs()
        );
        let kms = kms_per_publish(&publishes);
        println!(
            "KMS calls per publish of one connection: {kms:.3} ({} publishes)",
            publishes.len()
        );
        if kms * publishes.len() as f64 > (publishes.len() as f64 * KMS_PER_PUBLISH).ceil() {
            broken.push(format!(
                "KMS @ {latency_ms} ms: {kms:.3} calls per publish (budget {KMS_PER_PUBLISH})"
            ));
        }
        // Throughput: one publisher instance, then the pipeline (5 instances, as the template's
        // PublisherMaxConcurrency allows by default 10).
        for consumers in [5, 1] {
            let (per_s, aws, kms) = throughput(
                &stack,
                &counter,
                &connection,
                posts.max(10),
                consumers,
                &format!("{unique} {latency_ms} {consumers}"),
            )
            .await?;
            println!(
                "throughput @ {latency_ms} ms, {consumers} publisher instance(s): {per_s:.1} posts/s; publisher AWS calls per post {aws:.2} (KMS {kms:.3})"
            );
        }
        if std::mem::take(&mut first) {
            broken.extend(other_operations(&stack, &handler, &counter, &connection, unique).await?);
            println!();
            println!("| kind | LinkedIn latency | posts | LinkedIn calls/post | AWS calls/post | publisher CPU ms p50 / p95 | end-to-end ms above LinkedIn p50 / p95 |");
            println!("|---|---|---|---|---|---|---|");
        }
    }
    drop(moto);
    if !broken.is_empty() {
        println!();
        for b in &broken {
            println!("over budget: {b}");
        }
        std::process::exit(1);
    }
    println!("every budget held");
    Ok(())
}
