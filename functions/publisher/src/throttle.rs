//! LinkedIn's daily limits as the publisher meets them: a 429 backs off the member (recorded
//! on the connection) and is reported to the record all publishers share, which decides when
//! the 429s mean the application's own limit (`domain::limits::AppThrottle`). While the
//! application is paused, no publish is sent; each publisher reads the shared record at most
//! every [`APP_THROTTLE_TTL`] (and learns at once from its own 429s).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use connector::domain::limits::{AppThrottle, ThrottleSettings};
use connector::domain::posts::Post;
use connector::store::{Change, LimitStore};
use connector::tokens::TokenKeeper;
use tracing::{info, warn};

/// How long a publisher trusts its copy of the shared record.
pub const APP_THROTTLE_TTL: Duration = Duration::from_secs(10);

pub struct Throttle {
    store: LimitStore,
    settings: ThrottleSettings,
    known: Mutex<Option<(Instant, AppThrottle)>>,
    /// One read of the shared record at a time: a batch's concurrent publishes that find the
    /// copy stale wait for one read instead of each making its own.
    reading: tokio::sync::Mutex<()>,
    /// How many times this publisher read the shared record (`make bench` reports them apart
    /// from the posts' own calls: they are per instance and time, not per post).
    reads: AtomicUsize,
}

impl Throttle {
    pub fn new(store: LimitStore, settings: ThrottleSettings) -> Self {
        Self {
            store,
            settings,
            known: Mutex::new(None),
            reading: tokio::sync::Mutex::new(()),
            reads: AtomicUsize::new(0),
        }
    }

    fn remember(&self, record: AppThrottle) {
        *self.known.lock().expect("not poisoned") = Some((Instant::now(), record));
    }

    /// This publisher's copy of the shared record, while it is fresh.
    fn fresh(&self) -> Option<AppThrottle> {
        self.known
            .lock()
            .expect("not poisoned")
            .as_ref()
            .filter(|(read_at, _)| read_at.elapsed() < APP_THROTTLE_TTL)
            .map(|(_, record)| record.clone())
    }

    /// The shared record, from this publisher's copy while it is fresh.
    async fn record(&self) -> Option<AppThrottle> {
        if let Some(record) = self.fresh() {
            return Some(record);
        }
        let _reading = self.reading.lock().await;
        // Read meanwhile by whoever held the lock.
        if let Some(record) = self.fresh() {
            return Some(record);
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        match self.store.app_throttle().await {
            Ok(record) => {
                self.remember(record.clone());
                Some(record)
            }
            Err(e) => {
                // LinkedIn answers 429 itself if it is so: sending is not unsafe, only wasteful.
                warn!(error = %e, "could not read the application's throttle record; publishing as if not paused");
                None
            }
        }
    }

    /// How many times this publisher has read the shared record.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::Relaxed)
    }

    /// Until when publishing is paused for the whole application, if it is.
    pub async fn app_paused(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.record().await?.paused(now)
    }

    /// LinkedIn answered a member's call with 429 until `until`: the member's posts wait
    /// (recorded on its connection), and the shared record hears of it.
    pub async fn member_throttled(
        &self,
        keeper: &TokenKeeper,
        post: &Post,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        let (tenant, id) = (&post.tenant_id, post.connection_id);
        if let Err(e) = keeper
            .connections
            .update(tenant, id, |stored| {
                Change::To(stored.connection.throttled_by_linkedin(until, now))
            })
            .await
        {
            warn!(error = %e, "could not record LinkedIn's limit on the connection");
        }
        let member = format!("{tenant}/{id}");
        let settings = self.settings;
        match self
            .store
            .update_app_throttle(|t| Some(t.member_throttled(&member, until, now, &settings)))
            .await
        {
            Ok(record) => {
                if let Some(paused_until) = record.paused(now) {
                    warn!(
                        paused_until = %paused_until,
                        members = record.throttled_members.len(),
                        "LinkedIn's daily limit for the application is reached: publishing pauses for every tenant until the reset"
                    );
                }
                self.remember(record);
            }
            Err(e) => warn!(error = %e, "could not record LinkedIn's 429 for the application"),
        }
    }

    /// A publish went through: members on record were throttled on their own account.
    pub async fn published(&self, now: DateTime<Utc>) {
        let suspects = self.record().await.is_some_and(|t| t.suspects(now));
        if !suspects {
            return;
        }
        match self
            .store
            .update_app_throttle(|t| t.suspects(now).then(|| t.published()))
            .await
        {
            Ok(record) => {
                info!("a publish went through: the 429s on record were members' own limits");
                self.remember(record);
            }
            Err(e) => warn!(error = %e, "could not clear the application's throttle record"),
        }
    }
}
