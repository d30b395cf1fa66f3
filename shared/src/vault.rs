//! The token vault: envelope encryption of a connection's LinkedIn tokens.
//!
//! Each seal asks KMS for a fresh AES-256 data key under an encryption context naming the
//! tenant and the connection; the tokens are encrypted with AES-256-GCM using the same names
//! as associated data. A ciphertext copied onto another connection's row therefore fails
//! twice over: KMS refuses to unwrap the data key under the other context, and GCM refuses the
//! other AAD. Only the wrapped data key and the ciphertexts are ever stored.
//!
//! Opening keeps the unwrapped data key for a while ([`cache`]): a warm function opens the same
//! connection's tokens again without a KMS call.

mod cache;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use secrecy::{ExposeSecret, SecretBox, SecretString};

use crate::aws_errors::{self, AwsError};
use crate::domain::{ConnectionId, TenantId};

const NONCE_LEN: usize = 12;
const AAD_PREFIX: &str = "linkedin-connector/tokens/v1";

/// Which connection a ciphertext belongs to. It is the KMS encryption context and the AEAD's
/// associated data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultContext {
    pub tenant_id: TenantId,
    pub connection_id: ConnectionId,
}

impl VaultContext {
    pub fn new(tenant_id: &TenantId, connection_id: ConnectionId) -> Self {
        Self {
            tenant_id: tenant_id.clone(),
            connection_id,
        }
    }

    fn kms_context(&self) -> HashMap<String, String> {
        HashMap::from([
            ("purpose".to_owned(), "linkedin-tokens".to_owned()),
            ("tenant_id".to_owned(), self.tenant_id.to_string()),
            ("connection_id".to_owned(), self.connection_id.to_string()),
        ])
    }

    fn aad(&self, field: &str) -> Vec<u8> {
        format!(
            "{AAD_PREFIX}\0tenant_id={}\0connection_id={}\0field={field}",
            self.tenant_id, self.connection_id
        )
        .into_bytes()
    }
}

/// A connection's tokens in the clear. Only the publisher, refresher and health check ever
/// open them, and only for the length of a LinkedIn call.
#[derive(Debug)]
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
}

/// What is stored: the KMS-wrapped data key and the AES-GCM ciphertexts (nonce || ciphertext).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedTokens {
    pub wrapped_key: Vec<u8>,
    pub access_token: Vec<u8>,
    pub refresh_token: Option<Vec<u8>>,
}

impl SealedTokens {
    /// What is left after a disconnect: no data key, no ciphertext. Nothing can be opened.
    pub fn destroyed() -> Self {
        Self {
            wrapped_key: Vec::new(),
            access_token: Vec::new(),
            refresh_token: None,
        }
    }

    pub fn is_destroyed(&self) -> bool {
        self.wrapped_key.is_empty() || self.access_token.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// KMS could not be reached or throttled us: retrying can help.
    #[error("key service unavailable: {0}")]
    KeyServiceUnavailable(String),
    /// KMS refused (wrong context, disabled or deleted key, no permission): retrying cannot help.
    #[error("key service refused the data key: {0}")]
    KeyRefused(String),
    /// A disconnect destroyed the connection's tokens and data key.
    #[error("the connection's tokens were destroyed (disconnected)")]
    Destroyed,
    /// The ciphertext does not belong to this connection or was altered.
    #[error("stored tokens failed to decrypt for this connection (moved or tampered ciphertext)")]
    Integrity,
}

impl VaultError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::KeyServiceUnavailable(_))
    }
}

pub type DataKey = SecretBox<[u8; 32]>;

/// The seam to the key-management service.
pub trait KeyService: Send + Sync {
    /// A fresh data key: the plaintext (kept in memory only) and its wrapped form.
    fn generate_data_key(
        &self,
        context: &HashMap<String, String>,
    ) -> impl Future<Output = Result<(DataKey, Vec<u8>), VaultError>> + Send;

    fn unwrap_data_key(
        &self,
        wrapped: &[u8],
        context: &HashMap<String, String>,
    ) -> impl Future<Output = Result<DataKey, VaultError>> + Send;
}

pub use cache::{DataKeyCache, MAX_AGE as DATA_KEY_MAX_AGE, MAX_USES as DATA_KEY_MAX_USES};

#[derive(Debug, Clone)]
pub struct TokenVault<K = KmsKeys> {
    keys: K,
    /// Unwrapped data keys, shared by the vault's clones (one per function instance).
    cache: Arc<DataKeyCache>,
}

impl<K: KeyService> TokenVault<K> {
    pub fn new(keys: K) -> Self {
        Self {
            keys,
            cache: Arc::default(),
        }
    }

    /// How many unwrapped data keys the vault keeps now.
    pub fn cached_keys(&self) -> usize {
        self.cache.len()
    }

    pub async fn seal(
        &self,
        context: &VaultContext,
        tokens: &TokenSet,
    ) -> Result<SealedTokens, VaultError> {
        let (key, wrapped_key) = self.keys.generate_data_key(&context.kms_context()).await?;
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.expose_secret()));
        let seal_one = |field: &str, secret: &SecretString| {
            let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
            let aad = context.aad(field);
            let ciphertext = cipher
                .encrypt(
                    &nonce,
                    Payload {
                        msg: secret.expose_secret().as_bytes(),
                        aad: &aad,
                    },
                )
                .expect("AES-GCM encryption of a bounded token cannot fail");
            let mut out = nonce.to_vec();
            out.extend_from_slice(&ciphertext);
            out
        };
        Ok(SealedTokens {
            access_token: seal_one("access_token", &tokens.access_token),
            refresh_token: tokens
                .refresh_token
                .as_ref()
                .map(|t| seal_one("refresh_token", t)),
            wrapped_key,
        })
    }

    pub async fn open(
        &self,
        context: &VaultContext,
        sealed: &SealedTokens,
    ) -> Result<TokenSet, VaultError> {
        if sealed.is_destroyed() {
            return Err(VaultError::Destroyed);
        }
        let now = Instant::now();
        let key = match self.cache.get(context, &sealed.wrapped_key, now) {
            Some(key) => key,
            None => {
                let key = self
                    .keys
                    .unwrap_data_key(&sealed.wrapped_key, &context.kms_context())
                    .await?;
                self.cache.put(context, &sealed.wrapped_key, &key, now);
                key
            }
        };
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key.expose_secret()));
        let open_one = |field: &str, blob: &[u8]| -> Result<SecretString, VaultError> {
            if blob.len() <= NONCE_LEN {
                return Err(VaultError::Integrity);
            }
            let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
            let aad = context.aad(field);
            let plain = cipher
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: ciphertext,
                        aad: &aad,
                    },
                )
                .map_err(|_| VaultError::Integrity)?;
            String::from_utf8(plain)
                .map(SecretString::from)
                .map_err(|_| VaultError::Integrity)
        };
        Ok(TokenSet {
            access_token: open_one("access_token", &sealed.access_token)?,
            refresh_token: sealed
                .refresh_token
                .as_deref()
                .map(|b| open_one("refresh_token", b))
                .transpose()?,
        })
    }
}

/// AWS KMS as the key service.
#[derive(Debug, Clone)]
pub struct KmsKeys {
    client: crate::aws_clients::LazyClient<aws_sdk_kms::Client>,
    key_id: String,
}

impl KmsKeys {
    /// Keys of `key_id`, through `client` (a KMS client, or one built at the first call).
    pub fn new(
        client: impl Into<crate::aws_clients::LazyClient<aws_sdk_kms::Client>>,
        key_id: impl Into<String>,
    ) -> Self {
        Self {
            client: client.into(),
            key_id: key_id.into(),
        }
    }
}

impl KeyService for KmsKeys {
    async fn generate_data_key(
        &self,
        context: &HashMap<String, String>,
    ) -> Result<(DataKey, Vec<u8>), VaultError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context.clone()))
            .send()
            .await
            .map_err(|e| kms_error("GenerateDataKey", e))?;
        let plaintext = out.plaintext().ok_or_else(|| {
            VaultError::KeyRefused("GenerateDataKey returned no plaintext".into())
        })?;
        let wrapped = out.ciphertext_blob().ok_or_else(|| {
            VaultError::KeyRefused("GenerateDataKey returned no ciphertext".into())
        })?;
        Ok((to_data_key(plaintext.as_ref())?, wrapped.as_ref().to_vec()))
    }

    async fn unwrap_data_key(
        &self,
        wrapped: &[u8],
        context: &HashMap<String, String>,
    ) -> Result<DataKey, VaultError> {
        let out = self
            .client
            .decrypt()
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped))
            .set_encryption_context(Some(context.clone()))
            .send()
            .await
            .map_err(|e| kms_error("Decrypt", e))?;
        let plaintext = out
            .plaintext()
            .ok_or_else(|| VaultError::KeyRefused("Decrypt returned no plaintext".into()))?;
        to_data_key(plaintext.as_ref())
    }
}

fn to_data_key(bytes: &[u8]) -> Result<DataKey, VaultError> {
    let key: [u8; 32] = bytes
        .try_into()
        .map_err(|_| VaultError::KeyRefused(format!("data key of {} bytes", bytes.len())))?;
    Ok(SecretBox::new(Box::new(key)))
}

fn kms_error<E>(operation: &str, error: AwsError<E>) -> VaultError
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    // KMS's refusals (an InvalidCiphertextException for another connection's context, a
    // disabled or deleted key, no permission) are not retryable.
    aws_errors::classify(
        operation,
        &error,
        VaultError::KeyServiceUnavailable,
        VaultError::KeyRefused,
    )
}

/// A key service that wraps data keys with a local master key, binding the context the way
/// KMS does. For tests of the vault's own rules, without I/O.
#[cfg(any(test, feature = "test-util"))]
pub mod fake {
    use super::*;

    #[derive(Debug, Clone, Default)]
    pub struct LocalKeys {
        master: [u8; 32],
    }

    fn context_aad(context: &HashMap<String, String>) -> Vec<u8> {
        let mut pairs: Vec<_> = context.iter().collect();
        pairs.sort();
        format!("{pairs:?}").into_bytes()
    }

    impl KeyService for LocalKeys {
        async fn generate_data_key(
            &self,
            context: &HashMap<String, String>,
        ) -> Result<(DataKey, Vec<u8>), VaultError> {
            let key = Aes256Gcm::generate_key(&mut OsRng);
            let master = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.master));
            let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
            let aad = context_aad(context);
            let mut wrapped = nonce.to_vec();
            wrapped.extend(
                master
                    .encrypt(
                        &nonce,
                        Payload {
                            msg: &key,
                            aad: &aad,
                        },
                    )
                    .expect("wrap"),
            );
            Ok((to_data_key(&key)?, wrapped))
        }

        async fn unwrap_data_key(
            &self,
            wrapped: &[u8],
            context: &HashMap<String, String>,
        ) -> Result<DataKey, VaultError> {
            let master = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&self.master));
            let (nonce, ct) = wrapped.split_at(NONCE_LEN.min(wrapped.len()));
            let aad = context_aad(context);
            let key = master
                .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
                .map_err(|_| VaultError::KeyRefused("InvalidCiphertextException".into()))?;
            to_data_key(&key)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::LocalKeys;
    use super::*;

    fn context(tenant: &str) -> VaultContext {
        VaultContext::new(&TenantId::parse(tenant).unwrap(), ConnectionId::new())
    }

    fn tokens() -> TokenSet {
        TokenSet {
            access_token: SecretString::from("AQ-access-token-value"),
            refresh_token: Some(SecretString::from("AQ-refresh-token-value")),
        }
    }

    #[tokio::test]
    async fn sealed_tokens_open_again_under_the_same_context() {
        let vault = TokenVault::new(LocalKeys::default());
        let ctx = context("acme");
        let sealed = vault.seal(&ctx, &tokens()).await.unwrap();
        let opened = vault.open(&ctx, &sealed).await.unwrap();
        assert_eq!(opened.access_token.expose_secret(), "AQ-access-token-value");
        assert_eq!(
            opened.refresh_token.unwrap().expose_secret(),
            "AQ-refresh-token-value"
        );
    }

    /// Local keys that count the unwraps (KMS Decrypts) they were asked for.
    #[derive(Debug, Clone, Default)]
    struct CountingKeys {
        keys: LocalKeys,
        unwraps: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl KeyService for CountingKeys {
        async fn generate_data_key(
            &self,
            context: &HashMap<String, String>,
        ) -> Result<(DataKey, Vec<u8>), VaultError> {
            self.keys.generate_data_key(context).await
        }

        async fn unwrap_data_key(
            &self,
            wrapped: &[u8],
            context: &HashMap<String, String>,
        ) -> Result<DataKey, VaultError> {
            self.unwraps
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.keys.unwrap_data_key(wrapped, context).await
        }
    }

    #[tokio::test]
    async fn a_hundred_opens_of_one_connection_cost_one_unwrap_and_a_moved_ciphertext_still_fails()
    {
        let keys = CountingKeys::default();
        let vault = TokenVault::new(keys.clone());
        let ctx = context("acme");
        let sealed = vault.seal(&ctx, &tokens()).await.unwrap();
        for _ in 0..100 {
            let opened = vault.clone().open(&ctx, &sealed).await.unwrap();
            assert_eq!(opened.access_token.expose_secret(), "AQ-access-token-value");
        }
        let unwraps = || keys.unwraps.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(unwraps(), 1);
        assert_eq!(vault.cached_keys(), 1);
        // Cached or not, another connection's context never opens it.
        let other = VaultContext::new(&ctx.tenant_id, ConnectionId::new());
        assert!(matches!(
            vault.open(&other, &sealed).await,
            Err(VaultError::KeyRefused(_))
        ));
        // Resealed tokens (a refresh) have a new data key: unwrapped once more.
        let resealed = vault.seal(&ctx, &tokens()).await.unwrap();
        vault.open(&ctx, &resealed).await.unwrap();
        assert_eq!(unwraps(), 3);
        // Destroyed tokens open nothing, whatever is cached.
        assert!(matches!(
            vault.open(&ctx, &SealedTokens::destroyed()).await,
            Err(VaultError::Destroyed)
        ));
    }

    #[tokio::test]
    async fn sealed_tokens_hold_no_plaintext() {
        let vault = TokenVault::new(LocalKeys::default());
        let sealed = vault.seal(&context("acme"), &tokens()).await.unwrap();
        for blob in [&sealed.access_token, sealed.refresh_token.as_ref().unwrap()] {
            assert!(!blob.windows(6).any(|w| w == b"access" || w == b"refres"));
        }
    }

    #[tokio::test]
    async fn a_ciphertext_moved_to_another_connection_fails_to_open() {
        let vault = TokenVault::new(LocalKeys::default());
        let sealed = vault.seal(&context("acme"), &tokens()).await.unwrap();
        let err = vault.open(&context("acme"), &sealed).await.unwrap_err();
        assert!(matches!(err, VaultError::KeyRefused(_)), "{err:?}");
    }

    #[tokio::test]
    async fn an_access_token_swapped_into_the_refresh_slot_fails_to_open() {
        let vault = TokenVault::new(LocalKeys::default());
        let ctx = context("acme");
        let mut sealed = vault.seal(&ctx, &tokens()).await.unwrap();
        sealed.refresh_token = Some(sealed.access_token.clone());
        assert!(matches!(
            vault.open(&ctx, &sealed).await,
            Err(VaultError::Integrity)
        ));
    }

    #[tokio::test]
    async fn a_tampered_ciphertext_fails_to_open() {
        let vault = TokenVault::new(LocalKeys::default());
        let ctx = context("acme");
        let mut sealed = vault.seal(&ctx, &tokens()).await.unwrap();
        let last = sealed.access_token.len() - 1;
        sealed.access_token[last] ^= 1;
        assert!(matches!(
            vault.open(&ctx, &sealed).await,
            Err(VaultError::Integrity)
        ));
    }

    #[tokio::test]
    async fn each_seal_uses_a_fresh_data_key_and_nonce() {
        let vault = TokenVault::new(LocalKeys::default());
        let ctx = context("acme");
        let a = vault.seal(&ctx, &tokens()).await.unwrap();
        let b = vault.seal(&ctx, &tokens()).await.unwrap();
        assert_ne!(a.wrapped_key, b.wrapped_key);
        assert_ne!(a.access_token, b.access_token);
    }

    #[tokio::test]
    async fn a_connection_without_a_refresh_token_seals_none() {
        let vault = TokenVault::new(LocalKeys::default());
        let ctx = context("acme");
        let sealed = vault
            .seal(
                &ctx,
                &TokenSet {
                    access_token: SecretString::from("a"),
                    refresh_token: None,
                },
            )
            .await
            .unwrap();
        assert!(sealed.refresh_token.is_none());
        assert!(vault
            .open(&ctx, &sealed)
            .await
            .unwrap()
            .refresh_token
            .is_none());
    }

    #[test]
    fn kms_failures_are_unavailable_or_refused() {
        use crate::aws_errors::fixtures::{code, modeled, service, transient};
        use aws_sdk_kms::operation::decrypt::DecryptError as Decrypt;
        use aws_sdk_kms::types::error::{
            DependencyTimeoutException, DisabledException, InvalidCiphertextException,
            KeyUnavailableException, KmsInternalException, NotFoundException,
        };

        let internal = || {
            Decrypt::KmsInternalException(modeled!(KmsInternalException, "KMSInternalException"))
        };
        let mut cases = transient(Decrypt::generic, true);
        cases.extend([
            ("internal", service(500, internal()), true),
            ("internal, as a 400", service(400, internal()), true),
            (
                "dependency timeout",
                service(
                    400,
                    Decrypt::DependencyTimeoutException(modeled!(DependencyTimeoutException)),
                ),
                true,
            ),
            (
                "another connection's ciphertext",
                service(
                    400,
                    Decrypt::InvalidCiphertextException(modeled!(InvalidCiphertextException)),
                ),
                false,
            ),
            (
                "disabled key",
                service(400, Decrypt::DisabledException(modeled!(DisabledException))),
                false,
            ),
            (
                "deleted key",
                service(400, Decrypt::NotFoundException(modeled!(NotFoundException))),
                false,
            ),
            // Refused as before, though KMS documents it as retryable.
            (
                "key unavailable",
                service(
                    400,
                    Decrypt::KeyUnavailableException(modeled!(KeyUnavailableException)),
                ),
                false,
            ),
            (
                "access denied",
                service(400, Decrypt::generic(code("AccessDeniedException"))),
                false,
            ),
        ]);
        for (name, error, retryable) in cases {
            let sorted = kms_error("Decrypt", error);
            assert_eq!(sorted.is_retryable(), retryable, "{name}: {sorted:?}");
            assert!(
                matches!(
                    sorted,
                    VaultError::KeyServiceUnavailable(_) | VaultError::KeyRefused(_)
                ),
                "{name}: {sorted:?}"
            );
        }
    }
}
