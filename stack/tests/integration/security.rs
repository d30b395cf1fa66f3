//! What reaches a tenant and what the API takes in (issue 11 §4, §5): fixed texts where
//! LinkedIn or AWS said more, an image host that failed reading the same whatever it did, and
//! the largest request the API takes going all the way through.

use connector::domain::posts::{FailureCode, MAX_ALT_TEXT_CHARS, MAX_IMAGES, MAX_TEXT_CHARS};
use connector::http::MAX_BODY_BYTES;
use linkedin_simulator::Fault;
use local_stack::counting::{AwsFault, AwsFaultKind, ACCESS_DENIED_ACCOUNT};
use serde_json::{json, Value};

use crate::support::{connected, SLOW};

/// Nothing of what LinkedIn or AWS said in detail: no ARN, account id, table or key name, no
/// URL, no query.
fn assert_nothing_internal(what: &str, json: &Value) {
    let text = json.to_string();
    for leak in [
        "arn:",
        ACCESS_DENIED_ACCOUNT,
        "linkedin-connector",
        "internal.example",
        "secret",
        "AccessDenied",
        "serviceErrorCode",
    ] {
        assert!(!text.contains(leak), "{what} shows {leak:?}: {text}");
    }
}

#[tokio::test]
async fn linkedins_and_aws_words_reach_the_logs_not_the_tenant() {
    let (stack, connection) = connected(|_| {}).await;

    // LinkedIn refuses with a message quoting internal names and a signed URL.
    stack.simulator().inject(
        Fault::status("POST", "/rest/posts", 403).times(1).body(
            json!({
                "status": 403,
                "serviceErrorCode": 100,
                "code": "ACCESS_DENIED",
                "message": "Not enough permissions to access: posts.CREATE for arn:aws:iam::123456789012:role/x (see https://internal.example/trace?secret=abc)"
            })
            .to_string(),
        ),
    );
    let refused = stack
        .publish_text("acme", &connection, "Refused by LinkedIn")
        .await;
    let post = stack
        .wait_for_post("acme", &refused, &["failed"], SLOW)
        .await;
    assert_eq!(
        post["last_error"],
        json!({ "code": "FORBIDDEN", "message": FailureCode::Forbidden.message() })
    );
    assert_nothing_internal("a post LinkedIn refused", &post);

    // KMS refuses the publisher's Decrypt as IAM words it: role ARN, account id, key ARN.
    // (Another member's connection: the first one's data key is in the publisher's cache.)
    let connection = stack.connect("acme", Some("sim-grace-9q2w")).await;
    stack.aws_faults().inject(
        AwsFault::new("KMS", AwsFaultKind::AccessDenied)
            .operation("Decrypt")
            .times(1),
    );
    let unreadable = stack
        .publish_text("acme", &connection, "Tokens refused by KMS")
        .await;
    let post = stack
        .wait_for_post("acme", &unreadable, &["failed"], SLOW)
        .await;
    assert_eq!(
        post["last_error"],
        json!({ "code": "TOKENS_UNREADABLE", "message": FailureCode::TokensUnreadable.message() })
    );
    assert!(
        stack
            .aws_faults()
            .applied()
            .iter()
            .any(|f| f.kind == AwsFaultKind::AccessDenied),
        "the fault was applied"
    );
    assert_nothing_internal("a post whose tokens KMS refused", &post);

    let (status, records) = stack.get("acme", "/v1/dlq-records").await;
    assert_eq!(status, 200);
    let records = records["records"].as_array().unwrap().clone();
    assert_eq!(records.len(), 2, "{records:?}");
    for record in &records {
        let code: FailureCode = serde_json::from_value(record["error_code"].clone()).unwrap();
        assert_eq!(record["error_message"], code.message(), "{record}");
        assert_nothing_internal("a DLQ record", record);
    }

    // DynamoDB refusing the API: an opaque 500, the cause in the log only.
    stack.aws_faults().inject(
        AwsFault::new("DynamoDB", AwsFaultKind::AccessDenied)
            .operation("Query")
            .times(1),
    );
    let (status, body) = stack.get("acme", "/v1/posts").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["message"], "internal error");
    assert_nothing_internal("an API error", &body);
}

/// A redirect, like a host that failed or a 404, is one fixed text: it is retried (it may be
/// the host's passing trouble) and the post then fails saying nothing of what the host did.
#[tokio::test]
async fn an_image_host_that_redirects_reads_like_one_that_failed() {
    let (stack, connection) = connected(|_| {}).await;
    let url = format!("{}?sig=secret", stack.cdn.url("/moved.png"));
    let (status, body) = stack
        .create_post(
            "acme",
            json!({ "connection_id": connection, "text": "redirected", "media": [{ "type": "image", "url": url }] }),
            None,
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let post = stack
        .wait_for_post("acme", body["id"].as_str().unwrap(), &["failed"], SLOW)
        .await;
    assert_eq!(post["last_error"]["code"], "RETRIES_EXHAUSTED", "{post}");
    assert_eq!(
        post["last_error"]["message"],
        connector::media::FETCH_FAILED,
        "{post}"
    );
    assert!(stack.simulator().live_posts().is_empty());
}

/// The largest request the API takes: text, images, URLs and alternative texts at their
/// limits, the body at exactly 256 KB. It is accepted and published; one byte more is a 413,
/// one image more or one URL byte more a 400, and nothing is recorded for them.
#[tokio::test]
async fn the_largest_valid_post_is_published_and_one_byte_or_item_more_is_refused() {
    let (stack, connection) = connected(|_| {}).await;
    let url = |i: usize, len: usize| {
        let base = format!("{}?n={i}&p=", stack.cdn.url("/img/a.png"));
        format!("{base}{}", "x".repeat(len - base.len()))
    };
    // Alternative texts of 2-byte characters, widened to 3 bytes until the body fills 256 KB.
    let body = |images: usize, url_len: usize, widen: usize| {
        let mut left = widen;
        let media: Vec<Value> = (0..images)
            .map(|i| {
                let wide = left.min(MAX_ALT_TEXT_CHARS);
                left -= wide;
                let alt: String = std::iter::repeat_n('€', wide)
                    .chain(std::iter::repeat_n('é', MAX_ALT_TEXT_CHARS - wide))
                    .collect();
                json!({ "type": "image", "url": url(i, url_len), "alt_text": alt })
            })
            .collect();
        let text: String = std::iter::repeat_n('€', MAX_TEXT_CHARS).collect();
        json!({ "connection_id": connection, "text": text, "media": media }).to_string()
    };
    let narrow = body(MAX_IMAGES, 2048, 0).len();
    assert!(narrow < MAX_BODY_BYTES, "{narrow}");
    let mut largest = body(MAX_IMAGES, 2048, MAX_BODY_BYTES - narrow);
    assert!(largest.len() <= MAX_BODY_BYTES);
    largest.push_str(&" ".repeat(MAX_BODY_BYTES - largest.len()));
    assert_eq!(largest.len(), MAX_BODY_BYTES);

    let send = |body: String| {
        let request = stack
            .request(reqwest::Method::POST, "acme", "/v1/posts")
            .header("content-type", "application/json")
            .body(body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };

    let (status, over) = send(format!("{largest} ")).await;
    assert_eq!(status, 413, "{over}");
    assert_eq!(over["error"]["code"], "payload_too_large");
    assert!(over["error"]["message"]
        .as_str()
        .unwrap()
        .contains("262144"));
    let (status, over) = send(body(MAX_IMAGES + 1, 100, 0)).await;
    assert_eq!(
        (status, over["error"]["field"].as_str()),
        (400, Some("media")),
        "{over}"
    );
    let (status, over) = send(body(1, 2049, 0)).await;
    assert_eq!(
        (status, over["error"]["field"].as_str()),
        (400, Some("media")),
        "{over}"
    );
    let (_, listed) = stack.get("acme", "/v1/posts").await;
    assert_eq!(
        listed["posts"],
        json!([]),
        "nothing recorded for refused requests"
    );

    let (status, accepted) = send(largest).await;
    assert_eq!(status, 202, "{accepted}");
    let post = stack
        .wait_for_post(
            "acme",
            accepted["id"].as_str().unwrap(),
            &["published", "failed"],
            SLOW,
        )
        .await;
    assert_eq!(post["status"], "published", "{}", post["last_error"]);
    assert_eq!(post["media"].as_array().unwrap().len(), MAX_IMAGES);
    let live = stack.simulator().live_posts();
    assert_eq!(live[0].media.len(), MAX_IMAGES);
}
