//! The local stack: the AWS emulator (moto), the LinkedIn simulator and the HTTP functions
//! behind a local API gateway. `make dev` runs it for a person; the integration tests start one
//! per test (sharing one moto per test process) and, like the chaos run and the benchmarks,
//! drive it as the tenant's app would (`stack.connect(..)`, `stack.create_post(..)`: see
//! `tenant_app.rs`) and read its table (`stack.entities(..)`: `table.rs`).

pub mod cdn;
pub mod counting;
pub mod gateway;
pub mod moto;
pub mod poller;
pub mod provision;
pub mod receiver;
pub mod scheduler;
pub mod stream;
mod table;
mod tenant_app;
mod webhook_app;

pub use table::{contains, item_bytes, Item};
pub use tenant_app::{http, query_param, rfc3339};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use anyhow::Context;
use connector::config::Config;
use connector::linkedin::PropagationPatience;
use tokio::net::TcpListener;
use url::Url;

use gateway::{Gateway, JwtSettings};
use linkedin_simulator::{Simulator, SimulatorConfig};
use moto::MotoServer;

/// The in-process functions' ARNs, as schedules name them.
pub const REFRESHER_ARN: &str =
    "arn:aws:lambda:us-east-1:123456789012:function:linkedin-connector-refresher";
pub const RECONCILER_ARN: &str =
    "arn:aws:lambda:us-east-1:123456789012:function:linkedin-connector-reconciler";

/// What to start, and the configuration to run the functions with.
pub struct StackOptions {
    pub gateway_addr: SocketAddr,
    /// An AWS endpoint to use; `None` starts moto on `moto_port`.
    pub aws_endpoint: Option<String>,
    pub moto_port: u16,
    pub region: String,
    /// LinkedIn base URLs `(auth, api)` to use; `None` starts the simulator on `simulator_addr`.
    pub linkedin: Option<(Url, Url)>,
    pub simulator_addr: SocketAddr,
    pub simulator: SimulatorConfig,
    /// Configuration variables (as in the environment) that override the stack's defaults.
    pub settings: HashMap<String, String>,
    pub jwt: JwtSettings,
    pub patience: PropagationPatience,
    /// The publish queue's visibility timeout (Lambda: at least 6× the function timeout).
    pub queue_visibility: std::time::Duration,
    /// Where the stand-in image host listens.
    pub cdn_addr: SocketAddr,
    /// Run the publisher from the queue, as Lambda's event source mapping would.
    pub run_publisher: bool,
    /// Below this age a token's 401 is waited out instead of refreshed.
    pub token_propagation_window: std::time::Duration,
    /// Fire due schedules on this tick (refresh windows, scheduled posts, the health and
    /// reconcile rounds) and consume the health queue, as EventBridge Scheduler and Lambda
    /// would. Off in tests, which fire and drain when they choose.
    pub run_scheduler: Option<std::time::Duration>,
    /// How long a publish attempt owns a post (the publisher's claim lease); `None` keeps the
    /// product's. A chaos run shortens it so expired claims are retaken within the run.
    pub claim_lease: Option<std::time::Duration>,
    /// Run the notifier from the webhook queue, as Lambda's event source mapping would. Off
    /// by default so the tests that count AWS calls or inject SQS faults see only their own;
    /// `make dev` and the webhook tests turn it on.
    pub run_notifier: bool,
    /// The longest delay of one message of a webhook retry chain; `None` keeps the product's
    /// (15 min). Tests shorten it so that a clock they move ahead is seen at once.
    pub webhook_max_delay: Option<std::time::Duration>,
    /// Keep the functions' EMF metric lines in memory ([`LocalStack::metric_lines`]) instead
    /// of printing them: the tests read their own stack's, apart from the other tests'.
    pub capture_metrics: bool,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            gateway_addr: "127.0.0.1:0".parse().expect("literal"),
            aws_endpoint: None,
            moto_port: 0,
            region: "us-east-1".into(),
            linkedin: None,
            simulator_addr: "127.0.0.1:0".parse().expect("literal"),
            simulator: SimulatorConfig::default(),
            settings: HashMap::new(),
            jwt: JwtSettings {
                secret: gateway::DEFAULT_JWT_SECRET.into(),
                issuer: "https://dev.local/".into(),
                audience: "linkedin-connector".into(),
            },
            patience: PropagationPatience::default(),
            queue_visibility: std::time::Duration::from_secs(360),
            cdn_addr: "127.0.0.1:0".parse().expect("literal"),
            run_publisher: true,
            token_propagation_window: connector::tokens::PROPAGATION_WINDOW,
            run_scheduler: None,
            claim_lease: None,
            run_notifier: false,
            webhook_max_delay: None,
            capture_metrics: false,
        }
    }
}

pub struct LocalStack {
    pub gateway_url: Url,
    pub config: Config,
    /// Built against [`LocalStack::aws_proxy`], so every call is counted and can be faulted.
    pub sdk: aws_config::SdkConfig,
    /// The AWS emulator behind the proxy.
    pub aws_endpoint: String,
    /// The counting, fault-injecting proxy in front of `aws_endpoint`.
    pub aws_proxy: counting::AwsProxy,
    /// The publish queue's dead-letter queue (crash redrive).
    pub dlq_url: String,
    pub simulator: Option<Simulator>,
    pub jwt: JwtSettings,
    pub oauth: Arc<oauth_function::OAuthService>,
    pub api: Arc<api_function::ApiService>,
    pub publisher: Arc<publisher_function::Publisher>,
    pub refresher: Arc<refresher_function::Refresher>,
    pub health: Arc<health_function::Health>,
    pub reconciler: Arc<reconciler_function::Reconciler>,
    /// Delivers webhook events, on the stack's clock.
    pub notifier: Arc<notifier_function::Notifier>,
    /// The events function, and the table's stream it reads (see [`LocalStack::run_events`]).
    pub events: Arc<events_function::Events>,
    pub stream: Arc<stream::TableStream>,
    /// EventBridge Scheduler, locally: fires moto's schedules on its own (advanceable) clock.
    pub scheduler: Arc<scheduler::LocalScheduler>,
    pub cdn: cdn::Cdn,
    /// The tenant's app's client (see [`LocalStack::request`]), built once.
    http: reqwest::Client,
    _moto: Option<MotoServer>,
    gateway: tokio::task::JoinHandle<()>,
    poller: Option<tokio::task::JoinHandle<()>>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        self.gateway.abort();
        for task in self.poller.iter().chain(&self.background) {
            task.abort();
        }
    }
}

impl LocalStack {
    pub async fn start(options: StackOptions) -> anyhow::Result<Self> {
        gateway::refuse_public_default_secret(options.gateway_addr, &options.jwt)?;
        let listener = TcpListener::bind(options.gateway_addr)
            .await
            .with_context(|| format!("binding the gateway to {}", options.gateway_addr))?;
        let gateway_url = Url::parse(&format!("http://{}", listener.local_addr()?))?;

        let (moto, aws_endpoint) = match options.aws_endpoint.clone() {
            Some(endpoint) => (None, endpoint),
            None => {
                let port = options.moto_port;
                let moto = tokio::task::spawn_blocking(move || MotoServer::start(port)).await??;
                let endpoint = moto.endpoint.clone();
                (Some(moto), endpoint)
            }
        };
        let aws_proxy = counting::start(&aws_endpoint)
            .await
            .context("starting the AWS proxy")?;
        let sdk = provision::emulator_sdk_config(&aws_proxy.url, &options.region).await;

        let mut settings: HashMap<String, String> = HashMap::from([
            ("TABLE_NAME".into(), "linkedin-connector".into()),
            (
                "TOKEN_KEY_ID".into(),
                "alias/linkedin-connector-tokens".into(),
            ),
            (
                "PUBLISH_QUEUE_NAME".into(),
                "linkedin-connector-publish".into(),
            ),
            (
                "LINKEDIN_REDIRECT_URI".into(),
                gateway_url.join(oauth_function::CALLBACK_PATH)?.to_string(),
            ),
            ("REDIRECT_ALLOW_LIST".into(), gateway_url.to_string()),
            // The local image host is on loopback; production keeps the SSRF guard on.
            ("MEDIA_ALLOW_PRIVATE_HOSTS".into(), "true".into()),
            // The stand-in webhook receivers too (http on loopback, nothing else internal).
            ("WEBHOOK_ALLOW_LOOPBACK".into(), "true".into()),
        ]);
        settings.extend(options.settings.clone());

        let simulator = match &options.linkedin {
            Some((auth, api)) => {
                settings.insert("LINKEDIN_AUTH_BASE_URL".into(), auth.to_string());
                settings.insert("LINKEDIN_API_BASE_URL".into(), api.to_string());
                None
            }
            None => {
                let mut sim_config = options.simulator.clone();
                let client_id = settings
                    .entry("LINKEDIN_CLIENT_ID".into())
                    .or_insert_with(|| sim_config.client_id.clone())
                    .clone();
                let client_secret = settings
                    .entry("LINKEDIN_CLIENT_SECRET".into())
                    .or_insert_with(|| sim_config.client_secret.clone())
                    .clone();
                sim_config.client_id = client_id;
                sim_config.client_secret = client_secret;
                // A second (pages) app only when a test asks for one by its client id: with
                // one app nothing changes. Its secret is the simulator's pages app's.
                if let Some(pages_id) = settings.get("LINKEDIN_PAGES_CLIENT_ID").cloned() {
                    let app = sim_config
                        .pages_app
                        .get_or_insert_with(linkedin_simulator::SimApp::community_management);
                    app.client_id = pages_id;
                    let secret = settings
                        .entry("LINKEDIN_PAGES_CLIENT_SECRET".into())
                        .or_insert_with(|| app.client_secret.clone());
                    app.client_secret = secret.clone();
                }
                sim_config.redirect_uris = vec![settings["LINKEDIN_REDIRECT_URI"].clone()];
                let sim = Simulator::start_on(options.simulator_addr, sim_config)
                    .await
                    .with_context(|| {
                        format!(
                            "starting the LinkedIn simulator on {}",
                            options.simulator_addr
                        )
                    })?;
                settings.insert("LINKEDIN_AUTH_BASE_URL".into(), sim.base_url().to_string());
                settings.insert("LINKEDIN_API_BASE_URL".into(), sim.base_url().to_string());
                // The simulator's uploads go to its media host, as LinkedIn's go to theirs.
                settings
                    .entry("LINKEDIN_UPLOAD_HOSTS".into())
                    .or_insert_with(|| sim.media_base_url().origin().ascii_serialization());
                Some(sim)
            }
        };

        let (health_queue_url, health_queue_arn) = provision::ensure_health_queue(
            &sdk,
            &format!("{}-health", settings["PUBLISH_QUEUE_NAME"]),
        )
        .await?;
        settings
            .entry("HEALTH_QUEUE_URL".into())
            .or_insert(health_queue_url);
        let (webhook_queue_url, _) = provision::ensure_webhook_queue(
            &sdk,
            &format!("{}-webhooks", settings["PUBLISH_QUEUE_NAME"]),
        )
        .await?;
        settings
            .entry("WEBHOOK_QUEUE_URL".into())
            .or_insert(webhook_queue_url);
        // The master secret webhook secrets derive from, in Secrets Manager as in AWS (where
        // the template generates it): a random one per table.
        let webhook_secret = settings.remove("WEBHOOK_SIGNING_SECRET");
        if !settings.contains_key("WEBHOOK_SIGNING_SECRET_ARN") {
            let name = format!("{}/webhook-signing-secret", settings["TABLE_NAME"]);
            let value = webhook_secret.unwrap_or_else(|| {
                use rand::Rng;
                let bytes: [u8; 32] = rand::rng().random();
                bytes.iter().map(|b| format!("{b:02x}")).collect()
            });
            let arn = provision::ensure_client_secret(&sdk, &name, &value).await?;
            settings.insert("WEBHOOK_SIGNING_SECRET_ARN".into(), arn);
        }
        let queues = provision::ensure_queues(
            &sdk,
            &settings["PUBLISH_QUEUE_NAME"],
            options.queue_visibility,
        )
        .await?;
        let dlq_url = queues.dlq_url.clone();
        for (name, value) in [
            ("PUBLISH_QUEUE_URL", queues.url),
            ("PUBLISH_QUEUE_ARN", queues.arn),
            ("PUBLISH_DLQ_ARN", queues.dlq_arn),
            ("SCHEDULE_GROUP", "linkedin-connector".to_owned()),
            // Locally the refresher is invoked in-process (LocalStack::refresher).
            ("REFRESHER_ARN", REFRESHER_ARN.to_owned()),
            // moto does not check roles; in AWS this is the template's SchedulerRole.
            (
                "SCHEDULER_ROLE_ARN",
                "arn:aws:iam::123456789012:role/linkedin-connector-scheduler".to_owned(),
            ),
        ] {
            settings.entry(name.into()).or_insert(value);
        }
        // The client secret lives in Secrets Manager (moto), as in AWS: the functions get its
        // ARN and read it through the SDK. One secret per table, as tests share one moto.
        let client_secret = settings.remove("LINKEDIN_CLIENT_SECRET");
        if !settings.contains_key("LINKEDIN_CLIENT_SECRET_ARN") {
            if let Some(secret) = client_secret {
                let name = format!("{}/linkedin-client-secret", settings["TABLE_NAME"]);
                let arn = provision::ensure_client_secret(&sdk, &name, &secret).await?;
                settings.insert("LINKEDIN_CLIENT_SECRET_ARN".into(), arn);
            }
        }
        let pages_secret = settings.remove("LINKEDIN_PAGES_CLIENT_SECRET");
        if !settings.contains_key("LINKEDIN_PAGES_CLIENT_SECRET_ARN") {
            if let Some(secret) = pages_secret {
                let name = format!("{}/linkedin-pages-client-secret", settings["TABLE_NAME"]);
                let arn = provision::ensure_client_secret(&sdk, &name, &secret).await?;
                settings.insert("LINKEDIN_PAGES_CLIENT_SECRET_ARN".into(), arn);
            }
        }
        let mut config = Config::from_lookup(|k| settings.get(k).cloned())?;
        config
            .fetch_client_secret(&aws_sdk_secretsmanager::Client::new(&sdk))
            .await?;
        if options.capture_metrics {
            // Every function below is built from this config: they all write here.
            config.metrics = connector::metrics::Metrics::captured(config.metrics.namespace());
        }
        provision::create_table(&sdk, &config.table_name).await?;
        provision::ensure_token_key(&sdk, &config.token_key_id).await?;
        let schedules = config.require_schedules()?.clone();
        provision::ensure_schedule_group(&sdk, &schedules.group).await?;
        provision::ensure_rounds(&sdk, &schedules, &health_queue_arn, RECONCILER_ARN).await?;

        let mut oauth = oauth_function::OAuthService::from_config(&config, &sdk)?;
        oauth.patience = options.patience;
        let oauth = Arc::new(oauth);
        let api = Arc::new(api_function::ApiService::from_config(&config, &sdk)?);
        let mut publisher = publisher_function::Publisher::from_config(&config, &sdk)?;
        publisher.keeper.propagation_window = options.token_propagation_window;
        if let Some(lease) = options.claim_lease {
            publisher.lease = lease;
        }
        let publisher = Arc::new(publisher);
        let mut health = health_function::Health::from_config(&config, &sdk)?;
        health.keeper.propagation_window = options.token_propagation_window;
        let health = Arc::new(health);
        let poller = options.run_publisher.then(|| {
            poller::spawn(
                aws_sdk_sqs::Client::new(&sdk),
                config.publish_queue_url.clone().expect("set above"),
                poller::publisher(publisher.clone()),
                10,
            )
        });
        let mut refresher = refresher_function::Refresher::from_config(&config, &sdk)?;
        refresher.keeper.propagation_window = options.token_propagation_window;
        let refresher = Arc::new(refresher);
        let reconciler = Arc::new(reconciler_function::Reconciler::from_config(&config, &sdk)?);
        let scheduler = Arc::new(scheduler::LocalScheduler::new(
            &sdk,
            schedules.group.clone(),
            functions(&refresher, &reconciler),
        ));
        let mut notifier = notifier_function::Notifier::from_config(&config, &sdk)?;
        let clock = scheduler.clone();
        notifier.clock = Arc::new(move || clock.now());
        if let Some(max_delay) = options.webhook_max_delay {
            notifier.max_delay = max_delay;
        }
        let notifier = Arc::new(notifier);
        let events = Arc::new(events_function::Events::from_config(&config, &sdk)?);
        let stream = Arc::new(stream::TableStream::open(&sdk, &config.table_name).await?);
        let mut background = match options.run_scheduler {
            None => Vec::new(),
            Some(tick) => {
                let (events, stream) = (events.clone(), stream.clone());
                let events_consumer = tokio::spawn(async move {
                    loop {
                        if let Err(e) = stream.run_once(&events).await {
                            tracing::warn!(error = %format!("{e:#}"), "reading the table's stream failed; reading again");
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                });
                let sqs = aws_sdk_sqs::Client::new(&sdk);
                let health = health.clone();
                let health_consumer = tokio::spawn(async move {
                    let consumer = poller::health(health.clone());
                    loop {
                        poller::poll_once(&sqs, &health.queue_url, &consumer, 10, 1).await;
                    }
                });
                vec![
                    scheduler.clone().spawn(tick),
                    health_consumer,
                    events_consumer,
                ]
            }
        };
        if options.run_notifier {
            background.push(poller::spawn(
                aws_sdk_sqs::Client::new(&sdk),
                notifier.queue.url().to_owned(),
                poller::notifier(notifier.clone()),
                10,
            ));
        }
        let cdn = cdn::Cdn::start(options.cdn_addr).await?;
        let gateway = gateway::serve(
            listener,
            Gateway {
                oauth: oauth.clone(),
                api: api.clone(),
                jwt: options.jwt.clone(),
            },
        );
        Ok(Self {
            gateway_url,
            config,
            sdk,
            aws_endpoint,
            aws_proxy,
            dlq_url,
            simulator,
            jwt: options.jwt,
            oauth,
            api,
            publisher,
            refresher,
            health,
            reconciler,
            notifier,
            events,
            stream,
            scheduler,
            cdn,
            http: tenant_app::http(),
            _moto: moto,
            gateway,
            poller,
            background,
        })
    }

    pub fn simulator(&self) -> &Simulator {
        self.simulator
            .as_ref()
            .expect("this stack runs the simulator")
    }

    /// The EMF lines this stack's functions wrote so far (with
    /// [`StackOptions::capture_metrics`]; none otherwise: they went to stdout).
    pub fn metric_lines(&self) -> Vec<String> {
        self.config.metrics.lines()
    }

    /// AWS faults, injected in the stack's proxy in front of moto.
    pub fn aws_faults(&self) -> &counting::AwsFaults {
        &self.aws_proxy.faults
    }

    /// AWS calls by operation, as the proxy counted them.
    pub fn aws_calls(&self) -> &counting::Counter {
        &self.aws_proxy.counter
    }

    /// The local clock (the scheduler's; the simulator's moves with it).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.scheduler.now()
    }

    /// Moves the local clock ahead: the scheduler's and, if it runs, the simulator's (so
    /// tokens age too).
    pub fn advance(&self, by: chrono::Duration) {
        self.scheduler.advance(by);
        if let Some(sim) = &self.simulator {
            sim.advance(by.to_std().expect("time only moves ahead"));
        }
    }

    /// Runs one health round now, as the rate(6 hours) schedule would, checking what is due by
    /// `as_of` (the local clock may run ahead), and drains the health queue. Returns how many
    /// health tasks were handled.
    pub async fn run_health_round(
        &self,
        as_of: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<usize> {
        self.health
            .send(&[health_function::HealthTask::Plan { as_of: Some(as_of) }])
            .await?;
        self.drain_health_queue().await
    }

    /// Runs one engagement-metrics round now, as the rate(24 hours) schedule would, reading
    /// what is due by `as_of`, and drains the health queue. Returns how many tasks were
    /// handled.
    pub async fn run_metrics_round(
        &self,
        as_of: chrono::DateTime<chrono::Utc>,
    ) -> anyhow::Result<usize> {
        self.health
            .send(&[health_function::HealthTask::MetricsPlan { as_of: Some(as_of) }])
            .await?;
        self.drain_health_queue().await
    }

    /// Runs the publisher over what is on the publish queue now, as Lambda's event source
    /// mapping would (without waiting for messages); returns how many messages there were.
    pub async fn run_publish_queue(&self) -> usize {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let url = self
            .config
            .publish_queue_url
            .as_deref()
            .expect("the stack sets the publish queue");
        let consumer = poller::publisher(self.publisher.clone());
        poller::poll_once(&sqs, url, &consumer, 10, 0).await
    }

    /// Runs the notifier over what is on the webhook queue now, as Lambda's event source
    /// mapping would (without waiting for messages); returns how many messages there were.
    pub async fn run_webhook_queue(&self) -> usize {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let consumer = poller::notifier(self.notifier.clone());
        poller::poll_once(&sqs, self.notifier.queue.url(), &consumer, 10, 0).await
    }

    /// Runs the events function over the table's stream until it has read everything written
    /// so far, as Lambda's event source mapping would; returns how many records it handled.
    pub async fn run_events(&self) -> anyhow::Result<usize> {
        let mut handled = 0;
        loop {
            match self.stream.run_once(&self.events).await? {
                0 => return Ok(handled),
                n => handled += n,
            }
        }
    }

    /// Handles health tasks until the health queue stays empty; returns how many.
    pub async fn drain_health_queue(&self) -> anyhow::Result<usize> {
        let consumer = poller::health(self.health.clone());
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let (mut handled, mut idle) = (0, 0);
        while idle < 2 {
            let n = poller::poll_once(&sqs, &self.health.queue_url, &consumer, 10, 0).await;
            handled += n;
            idle = if n == 0 { idle + 1 } else { 0 };
        }
        Ok(handled)
    }

    /// A dev JWT for `tenant_id`.
    pub fn token_for(&self, tenant_id: &str) -> String {
        self.jwt.mint(tenant_id, 24)
    }
}

/// The stack's in-process Lambda functions that schedules invoke, by ARN.
fn functions(
    refresher: &Arc<refresher_function::Refresher>,
    reconciler: &Arc<reconciler_function::Reconciler>,
) -> HashMap<String, scheduler::Invoke> {
    let refresher = refresher.clone();
    let reconciler = reconciler.clone();
    HashMap::from([
        (
            REFRESHER_ARN.to_owned(),
            Arc::new(move |input: String| {
                let refresher = refresher.clone();
                Box::pin(async move {
                    let event: connector::schedules::RefresherEvent =
                        serde_json::from_str(&input).context("refresher event")?;
                    match event {
                        connector::schedules::RefresherEvent::Window(request) => {
                            let as_of = request.as_of(chrono::Utc::now());
                            refresher_function::handle(&request, &refresher, as_of).await?;
                        }
                        connector::schedules::RefresherEvent::Runway(request) => {
                            let as_of = request.as_of(chrono::Utc::now());
                            refresher_function::runway::handle(&request, &refresher, as_of).await?;
                        }
                    }
                    Ok(())
                }) as futures::future::BoxFuture<'static, anyhow::Result<()>>
            }) as scheduler::Invoke,
        ),
        (
            RECONCILER_ARN.to_owned(),
            Arc::new(move |input: String| {
                let reconciler = reconciler.clone();
                Box::pin(async move {
                    let request: reconciler_function::ReconcileRequest =
                        serde_json::from_str(&input).context("reconciler event")?;
                    let as_of = request.as_of(chrono::Utc::now());
                    reconciler_function::handle(as_of, &reconciler).await?;
                    Ok(())
                }) as futures::future::BoxFuture<'static, anyhow::Result<()>>
            }) as scheduler::Invoke,
        ),
    ])
}

/// One moto for the whole test process; each test gets its own table so tests stay apart.
pub fn shared_moto_endpoint() -> anyhow::Result<String> {
    static MOTO: OnceLock<Result<MotoServer, String>> = OnceLock::new();
    if let Ok(endpoint) = std::env::var("TEST_AWS_ENDPOINT_URL") {
        return Ok(endpoint);
    }
    MOTO.get_or_init(|| MotoServer::start(0).map_err(|e| format!("{e:#}")))
        .as_ref()
        .map(|m| m.endpoint.clone())
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// A stack for one test: shared moto, a fresh table, its own simulator and gateway.
pub async fn test_stack(adjust: impl FnOnce(&mut StackOptions)) -> LocalStack {
    // `TEST_LOG=debug cargo test …` shows the product's logs while debugging a test.
    if let Ok(level) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(level))
            .with_test_writer()
            .try_init();
    }
    let endpoint = tokio::task::spawn_blocking(shared_moto_endpoint)
        .await
        .expect("moto start task")
        .expect("moto server");
    let mut options = StackOptions {
        aws_endpoint: Some(endpoint),
        // Short waits keep propagation tests quick; the behaviour is the same.
        patience: PropagationPatience {
            attempts: 5,
            first_delay: std::time::Duration::from_millis(100),
        },
        ..StackOptions::default()
    };
    // A table and a queue of its own: tests run in parallel against one moto.
    let unique = uuid::Uuid::new_v4();
    options
        .settings
        .insert("TABLE_NAME".into(), format!("test-{unique}"));
    options
        .settings
        .insert("PUBLISH_QUEUE_NAME".into(), format!("test-{unique}"));
    options
        .settings
        .insert("SCHEDULE_GROUP".into(), format!("test-{unique}"));
    // A webhook retry due after a clock moved ahead goes out within a second.
    options.webhook_max_delay = Some(std::time::Duration::from_secs(1));
    options.capture_metrics = true;
    adjust(&mut options);
    LocalStack::start(options).await.expect("local stack")
}
