//! AWS service clients built at their first call instead of at cold start. Each service's
//! client costs a function's init about half a millisecond (`make bench-coldstart`), and most
//! invocations of the functions that hold one never call that service (an API read enqueues
//! nothing; a warm publisher's data keys are cached). Clones share the one client.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, LazyLock};

type Build<C> = Box<dyn FnOnce() -> C + Send>;

pub struct LazyClient<C>(Arc<LazyLock<C, Build<C>>>);

impl<C> LazyClient<C> {
    /// A client `build` makes from the SDK's configuration at the first call.
    pub fn from_sdk(sdk: &aws_config::SdkConfig, build: fn(&aws_config::SdkConfig) -> C) -> Self
    where
        C: 'static,
    {
        let sdk = sdk.clone();
        Self(Arc::new(LazyLock::new(Box::new(move || build(&sdk)))))
    }

    /// Whether the client has been built (by a call through it).
    pub fn is_built(&self) -> bool {
        LazyLock::get(&self.0).is_some()
    }
}

/// A client already built.
impl<C: Send + 'static> From<C> for LazyClient<C> {
    fn from(client: C) -> Self {
        Self(Arc::new(LazyLock::new(Box::new(move || client))))
    }
}

impl<C> Deref for LazyClient<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.0
    }
}

impl<C> Clone for LazyClient<C> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<C> fmt::Debug for LazyClient<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyClient")
            .field("built", &LazyLock::get(&self.0).is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_at_the_first_call_and_shared_by_clones() {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("eu-west-1"))
            .build();
        let client = LazyClient::from_sdk(&sdk, aws_sdk_sqs::Client::new);
        let clone = client.clone();
        assert!(!client.is_built() && !clone.is_built());
        assert_eq!(
            clone.config().region().map(|r| r.as_ref()),
            Some("eu-west-1")
        );
        assert!(client.is_built(), "a clone's call built the one client");
    }
}
