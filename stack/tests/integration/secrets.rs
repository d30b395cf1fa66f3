//! No token in the table (the log lines are checked in stack/tests/log_secrets.rs, a process of
//! its own so a global subscriber sees every thread); the LinkedIn client secret read from
//! Secrets Manager, as in AWS.

use local_stack::{provision, shared_moto_endpoint, test_stack, LocalStack};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn after_a_connect_the_table_holds_no_plaintext_token() {
    let stack = test_stack(|_| {}).await;
    stack.connect("acme", None).await;
    let issued = stack.simulator().issued_tokens();
    assert_eq!(issued.len(), 1);
    let secrets = [
        issued[0].access_token.clone(),
        issued[0]
            .refresh_token
            .clone()
            .expect("refresh token issued"),
    ];

    let items = stack.scan_table().await.unwrap();
    assert!(!items.is_empty());
    for item in &items {
        let bytes = item_bytes(item);
        for secret in &secrets {
            // Whole token, and any 24-character slice of it.
            assert!(!contains(&bytes, secret));
            for start in (0..secret.len().saturating_sub(24)).step_by(24) {
                assert!(
                    !contains(&bytes, &secret[start..start + 24]),
                    "token fragment stored"
                );
            }
        }
    }
}

/// A secret in Secrets Manager (the stack's moto) holding `value`; returns its ARN.
async fn secret_holding(value: &str) -> String {
    let endpoint = tokio::task::spawn_blocking(shared_moto_endpoint)
        .await
        .unwrap()
        .unwrap();
    let sdk = provision::emulator_sdk_config(&endpoint, "us-east-1").await;
    let name = format!("test-{}/linkedin-client-secret", uuid::Uuid::new_v4());
    provision::ensure_client_secret(&sdk, &name, value)
        .await
        .unwrap()
}

/// A stack whose functions are given only `arn` (no LINKEDIN_CLIENT_SECRET), as in AWS.
async fn stack_with_secret_arn(arn: &str) -> LocalStack {
    let stack = test_stack(|options| {
        options
            .settings
            .insert("LINKEDIN_CLIENT_SECRET_ARN".into(), arn.to_owned());
    })
    .await;
    assert_eq!(
        stack.config.linkedin.client_secret_arn.as_deref(),
        Some(arn)
    );
    stack
}

#[tokio::test]
async fn functions_given_only_the_client_secret_arn_read_it_and_connect_a_member() {
    // The simulator's app secret, kept in Secrets Manager.
    let arn = secret_holding("dev-client-secret").await;
    let stack = stack_with_secret_arn(&arn).await;

    stack.connect("acme", None).await;

    let connections = stack.connections("acme").await;
    assert_eq!(connections.len(), 1);
    assert_eq!(connections[0]["status"], "healthy");
}

#[tokio::test]
async fn the_client_secret_used_is_the_one_in_secrets_manager() {
    // A value LinkedIn (the simulator) does not know as the app's secret.
    let arn = secret_holding("not-the-apps-secret").await;
    let stack = stack_with_secret_arn(&arn).await;
    let done = stack.gateway_url.join("/done").unwrap();
    let url = stack
        .authorization_url("acme", json!({ "redirect_after": done }))
        .await;

    let location = stack.simulator().consent(&url, None, true).unwrap();
    let callback = http().get(location).send().await.unwrap();

    let back = callback.headers()["location"].to_str().unwrap();
    assert_eq!(
        query_param(back, "error").as_deref(),
        Some("authorization_code_rejected")
    );
    assert!(stack.connections("acme").await.is_empty());
}

#[tokio::test]
async fn a_client_secret_arn_naming_no_secret_stops_the_start() {
    let endpoint = tokio::task::spawn_blocking(shared_moto_endpoint)
        .await
        .unwrap()
        .unwrap();
    let mut options = local_stack::StackOptions {
        aws_endpoint: Some(endpoint),
        ..Default::default()
    };
    let unique = uuid::Uuid::new_v4();
    for name in ["TABLE_NAME", "PUBLISH_QUEUE_NAME", "SCHEDULE_GROUP"] {
        options
            .settings
            .insert(name.into(), format!("test-{unique}"));
    }
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf";
    options
        .settings
        .insert("LINKEDIN_CLIENT_SECRET_ARN".into(), missing.into());

    let error = LocalStack::start(options).await.err().expect("refused");

    let error = error
        .downcast_ref::<connector::config::ConfigError>()
        .unwrap_or_else(|| panic!("a configuration error: {error:?}"));
    assert!(
        matches!(error, connector::config::ConfigError::SecretRefused(m) if m.contains(missing))
    );
    assert!(!error.is_retryable());
}
