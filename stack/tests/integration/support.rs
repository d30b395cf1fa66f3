//! What the integration tests share beyond the stack's own methods (the tenant's app —
//! `stack.connect(..)`, `stack.create_post(..)`, `stack.wait_for_post(..)` — and the table —
//! `stack.entities(..)` — live in `local_stack`): a connected stack, what a test reads of the
//! stack to check it ([`TestStack`]), and SQS messages to hand the functions directly. Test
//! modules share helpers only through this module.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use chrono::{DateTime, Utc};
use connector::domain::posts::{Job, JobAction, PostId};
use connector::domain::{ConnectionId, TenantId};
use connector::schedules::RefreshRequest;
use connector::store::StoredConnection;
use connector::vault::{KmsKeys, TokenSet, TokenVault, VaultContext, VaultError};
use local_stack::{scheduler, test_stack, LocalStack, StackOptions};

pub use local_stack::{contains, http, item_bytes, query_param, rfc3339};

/// How long a post may take to reach the state a test waits for.
pub const SLOW: Duration = Duration::from_secs(40);

/// A stack with one connection of tenant `acme`: returns the stack and the connection id.
pub async fn connected(adjust: impl FnOnce(&mut StackOptions)) -> (LocalStack, String) {
    let stack = test_stack(adjust).await;
    let id = stack.connect("acme", None).await;
    (stack, id)
}

/// Tenant `acme`'s ids for `connection`.
pub fn ids(connection: &str) -> (TenantId, ConnectionId) {
    tenant_ids("acme", connection)
}

/// `tenant`'s ids for `connection`.
pub fn tenant_ids(tenant: &str, connection: &str) -> (TenantId, ConnectionId) {
    (
        TenantId::parse(tenant).unwrap(),
        ConnectionId::parse(connection).unwrap(),
    )
}

/// The post's publish job as the API enqueues it, as the SQS message `message_id`.
pub fn job_message(
    tenant: &str,
    post_id: &str,
    message_id: &str,
    enqueued_at: DateTime<Utc>,
) -> SqsMessage {
    let job = Job {
        action: JobAction::Publish,
        tenant_id: TenantId::parse(tenant).unwrap(),
        post_id: PostId::parse(post_id).unwrap(),
        enqueued_at,
        scheduled_at: None,
        due_at: None,
        post: None,
    };
    sqs_message(&job, message_id)
}

/// `job` as the SQS message `message_id`, as Lambda hands it to the publisher.
pub fn sqs_message(job: &Job, message_id: &str) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(message_id.into());
    m.receipt_handle = Some(format!("receipt-{message_id}"));
    m.body = Some(serde_json::to_string(job).unwrap());
    m
}

/// `messages` as one SQS batch, as Lambda invokes a function with it.
pub fn batch(messages: Vec<SqsMessage>) -> SqsEvent {
    let mut e = SqsEvent::default();
    e.records = messages;
    e
}

/// What a test reads of the stack to check it: the refresh windows and schedules it planned,
/// the tokens it stored, the refreshes LinkedIn saw. Connections are tenant `acme`'s unless a
/// tenant is named.
pub trait TestStack {
    /// The connection's refresh windows, earliest first: (name, at, target ARN, input). Each
    /// must delete itself after it ran, have a flexible window and a retry policy.
    async fn windows(
        &self,
        connection: &str,
    ) -> Vec<(String, DateTime<Utc>, String, RefreshRequest)>;
    /// When the connection's access token expires, as stored.
    async fn expiry(&self, connection: &str) -> DateTime<Utc>;
    /// The refreshes LinkedIn saw: every accessToken call after the connect's code exchange.
    fn refresh_calls(&self) -> usize;
    /// The stack's EventBridge Scheduler client.
    fn scheduler_client(&self) -> aws_sdk_scheduler::Client;
    /// The stack's schedule group.
    fn schedule_group(&self) -> String;
    /// The schedules in the stack's group whose name starts with `prefix`.
    async fn schedule_names(&self, prefix: &str) -> Vec<String>;
    /// The connection as stored: its record and its sealed tokens.
    async fn stored(&self, tenant: &str, connection: &str) -> StoredConnection;
    /// A vault over the stack's KMS key, as the functions build theirs.
    fn vault(&self) -> TokenVault<KmsKeys>;
    /// Opens a connection's stored tokens with the real KMS-backed vault.
    async fn open_tokens(&self, tenant: &str, connection: &str) -> Result<TokenSet, VaultError>;
}

impl TestStack for LocalStack {
    async fn windows(
        &self,
        connection: &str,
    ) -> Vec<(String, DateTime<Utc>, String, RefreshRequest)> {
        let scheduler = self.scheduler_client();
        let group = self.schedule_group();
        let mut out = Vec::new();
        for name in self.schedule_names(&format!("refresh-{connection}")).await {
            let s = scheduler
                .get_schedule()
                .group_name(&group)
                .name(&name)
                .send()
                .await
                .unwrap();
            let at = scheduler::at_time(s.schedule_expression().unwrap()).unwrap();
            assert_eq!(
                s.action_after_completion().map(|a| a.as_str()),
                Some("DELETE")
            );
            assert!(s
                .flexible_time_window()
                .unwrap()
                .maximum_window_in_minutes()
                .is_some());
            let target = s.target().unwrap();
            assert!(target.retry_policy().is_some());
            let input: RefreshRequest = serde_json::from_str(target.input().unwrap()).unwrap();
            out.push((name, at, target.arn().to_owned(), input));
        }
        out.sort_by_key(|w| w.1);
        out
    }

    async fn expiry(&self, connection: &str) -> DateTime<Utc> {
        let (tenant, id) = ids(connection);
        self.oauth
            .store
            .get_connection(&tenant, id)
            .await
            .unwrap()
            .unwrap()
            .access_token_expires_at
    }

    fn refresh_calls(&self) -> usize {
        self.simulator().count("POST", "/oauth/v2/accessToken") - 1
    }

    fn scheduler_client(&self) -> aws_sdk_scheduler::Client {
        aws_sdk_scheduler::Client::new(&self.sdk)
    }

    fn schedule_group(&self) -> String {
        self.config.require_schedules().unwrap().group.clone()
    }

    async fn schedule_names(&self, prefix: &str) -> Vec<String> {
        let scheduler = self.scheduler_client();
        let mut names = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let listed = scheduler
                .list_schedules()
                .group_name(self.schedule_group())
                .name_prefix(prefix)
                .set_next_token(next)
                .send()
                .await
                .unwrap();
            names.extend(
                listed
                    .schedules()
                    .iter()
                    .filter_map(|s| s.name().map(String::from)),
            );
            next = listed.next_token().map(String::from);
            if next.is_none() {
                return names;
            }
        }
    }

    fn vault(&self) -> TokenVault<KmsKeys> {
        TokenVault::new(KmsKeys::new(
            aws_sdk_kms::Client::new(&self.sdk),
            self.config.token_key_id.clone(),
        ))
    }

    async fn stored(&self, tenant: &str, connection: &str) -> StoredConnection {
        let (tenant, id) = tenant_ids(tenant, connection);
        self.oauth
            .store
            .get_stored_connection(&tenant, id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn open_tokens(&self, tenant: &str, connection: &str) -> Result<TokenSet, VaultError> {
        let stored = self.stored(tenant, connection).await;
        let (tenant, id) = tenant_ids(tenant, connection);
        self.vault()
            .open(&VaultContext::new(&tenant, id), &stored.tokens)
            .await
    }
}

/// Receives and deletes every message waiting on the queue at `url`; their bodies, oldest first.
pub async fn take_messages(stack: &LocalStack, url: &str) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let mut bodies = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return bodies;
        }
        for m in messages {
            bodies.push(m.body.unwrap_or_default());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle.unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// Takes every event waiting on the stack's webhook queue, oldest first (the events function's
/// output; run `stack.run_events()` first).
pub async fn queued_events(stack: &LocalStack) -> Vec<connector::events::Event> {
    let url = stack.config.require_webhook_queue().unwrap().to_owned();
    take_messages(stack, &url)
        .await
        .iter()
        .map(|body| serde_json::from_str(body).unwrap())
        .collect()
}
