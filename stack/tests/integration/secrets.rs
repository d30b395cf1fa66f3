//! No token in the table (the log lines are checked in stack/tests/log_secrets.rs, a process of
//! its own so a global subscriber sees every thread).

use local_stack::test_stack;

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
