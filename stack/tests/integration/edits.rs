//! Editing a post (issue 12 §3) and its first comment (§4): the simulator's edit, read and
//! comment endpoints with their refusals, then the product end to end against them.

use std::time::Duration;

use chrono::Utc;
use connector::config::DEFAULT_LINKEDIN_API_VERSION;
use linkedin_simulator::{Fault, Simulator, SimulatorConfig};
use local_stack::LocalStack;
use serde_json::{json, Value};

use crate::support::{connected, http, SLOW};

const MEMBER_SCOPES: &str = "openid profile email w_member_social";
const ORG_SCOPES: &str =
    "openid profile email w_member_social rw_organization_admin w_organization_social";
const COMMENT_SCOPES: &str = "openid profile email w_member_social w_member_social_feed";
const ADA: &str = "sim-ada-7f3k";
const GRACE: &str = "sim-grace-9q2w";
const ORG: &str = "urn:li:organization:1001";

fn encoded(urn: &str) -> String {
    url::form_urlencoded::byte_serialize(urn.as_bytes()).collect()
}

/// One call to the simulator's REST API; returns status, `x-restli-id` and the JSON body.
async fn call(
    sim: &Simulator,
    method: reqwest::Method,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let mut request = http()
        .request(method, sim.base_url().join(path).unwrap())
        .bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let id = r
        .headers()
        .get("x-restli-id")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, id, r.json().await.unwrap_or(Value::Null))
}

const VERSION: (&str, &str) = ("LinkedIn-Version", DEFAULT_LINKEDIN_API_VERSION);
const PARTIAL: (&str, &str) = ("X-RestLi-Method", "PARTIAL_UPDATE");

async fn create(sim: &Simulator, token: &str, author: &str, text: &str) -> String {
    let body = json!({
        "author": author, "commentary": text, "visibility": "PUBLIC",
        "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []},
        "lifecycleState": "PUBLISHED", "isReshareDisabledByAuthor": false,
    });
    let (status, id, body) = call(
        sim,
        reqwest::Method::POST,
        "/rest/posts",
        token,
        &[VERSION],
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    id.unwrap()
}

async fn edit(
    sim: &Simulator,
    token: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> u16 {
    call(sim, reqwest::Method::POST, path, token, headers, Some(body))
        .await
        .0
}

fn commentary(text: &str) -> Value {
    json!({"patch": {"$set": {"commentary": text}}})
}

#[tokio::test]
async fn the_simulator_edits_commentary_only_by_partial_update_and_refuses_the_rest() {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let (ada, _) = sim.issue_directly(ADA, &["w_member_social"], Duration::from_secs(60));
    let (grace, _) = sim.issue_directly(GRACE, &["w_member_social"], Duration::from_secs(60));
    let urn = create(&sim, &ada, &format!("urn:li:person:{ADA}"), "Before").await;
    let path = format!("/rest/posts/{}", encoded(&urn));

    let both = [VERSION, PARTIAL];
    assert_eq!(
        edit(&sim, &ada, &path, &both, commentary("After \\(1\\)")).await,
        204
    );
    assert_eq!(sim.commentary(&urn).as_deref(), Some("After (1)"));
    let history = sim.edits_of(&urn);
    assert_eq!((history.len(), history[0].previous.as_str()), (1, "Before"));

    let refusals = [
        (
            "no method header",
            ada.clone(),
            path.clone(),
            vec![VERSION],
            commentary("x"),
            400,
        ),
        (
            "no version",
            ada.clone(),
            path.clone(),
            vec![PARTIAL],
            commentary("x"),
            400,
        ),
        (
            "retired version",
            ada.clone(),
            path.clone(),
            vec![("LinkedIn-Version", "202001"), PARTIAL],
            commentary("x"),
            426,
        ),
        (
            "content",
            ada.clone(),
            path.clone(),
            both.to_vec(),
            json!({"patch": {"$set": {"content": {"media": {"id": "urn:li:image:1"}}}}}),
            400,
        ),
        (
            "commentary and more",
            ada.clone(),
            path.clone(),
            both.to_vec(),
            json!({"patch": {"$set": {"commentary": "x", "visibility": "CONNECTIONS"}}}),
            400,
        ),
        (
            "no patch",
            ada.clone(),
            path.clone(),
            both.to_vec(),
            json!({"commentary": "x"}),
            400,
        ),
        (
            "unencoded urn",
            ada.clone(),
            format!("/rest/posts/{urn}"),
            both.to_vec(),
            commentary("x"),
            400,
        ),
        (
            "unknown post",
            ada.clone(),
            format!("/rest/posts/{}", encoded("urn:li:share:1")),
            both.to_vec(),
            commentary("x"),
            404,
        ),
        (
            "not the author",
            grace.clone(),
            path.clone(),
            both.to_vec(),
            commentary("x"),
            403,
        ),
    ];
    for (name, token, path, headers, body, expected) in refusals {
        assert_eq!(
            edit(&sim, &token, &path, &headers, body).await,
            expected,
            "{name}"
        );
    }
    assert_eq!(sim.edits_of(&urn).len(), 1, "no refusal changed anything");

    let (status, _, _) = call(&sim, reqwest::Method::DELETE, &path, &ada, &[VERSION], None).await;
    assert_eq!(status, 204);
    assert_eq!(
        edit(&sim, &ada, &path, &both, commentary("x")).await,
        404,
        "deleted"
    );
}

#[tokio::test]
async fn the_simulator_reads_organization_posts_with_page_scopes_and_member_posts_only_with_r_member_social(
) {
    let sim = Simulator::start(SimulatorConfig::default()).await.unwrap();
    let age = Duration::from_secs(60);
    let (poster, _) = sim.issue_directly(ADA, &["w_member_social", "w_organization_social"], age);
    let (reader, _) = sim.issue_directly(ADA, &["rw_organization_admin", "w_member_social"], age);
    let (member_reader, _) = sim.issue_directly(ADA, &["r_member_social"], age);
    let mine = create(
        &sim,
        &poster,
        &format!("urn:li:person:{ADA}"),
        "Mine \\(1\\)",
    )
    .await;
    let page = create(&sim, &poster, ORG, "The page's").await;
    let get = |token: String, urn: String| {
        let sim = &sim;
        async move {
            let path = format!("/rest/posts/{}", encoded(&urn));
            call(sim, reqwest::Method::GET, &path, &token, &[VERSION], None).await
        }
    };
    assert_eq!(
        get(poster.clone(), page.clone()).await.0,
        403,
        "writing is not reading"
    );
    let (status, _, body) = get(reader.clone(), page.clone()).await;
    assert_eq!(
        (status, body["commentary"].as_str()),
        (200, Some("The page's"))
    );
    assert_eq!(
        get(reader.clone(), mine.clone()).await.0,
        403,
        "member posts are closed"
    );
    let (status, _, body) = get(member_reader, mine.clone()).await;
    assert_eq!(
        (status, body["commentary"].as_str()),
        (200, Some("Mine \\(1\\)"))
    );
    let unencoded = call(
        &sim,
        reqwest::Method::GET,
        &format!("/rest/posts/{page}"),
        &reader,
        &[VERSION],
        None,
    )
    .await;
    assert_eq!(unencoded.0, 400);
}

#[tokio::test]
async fn the_simulator_takes_comments_with_the_feed_scopes_once_the_post_is_known() {
    let sim = Simulator::start(SimulatorConfig {
        comment_unavailable_after_post: Duration::from_secs(30),
        ..Default::default()
    })
    .await
    .unwrap();
    let age = Duration::from_secs(60);
    let (writer, _) = sim.issue_directly(ADA, &["w_member_social"], age);
    let (commenter, _) = sim.issue_directly(ADA, &["w_member_social", "w_member_social_feed"], age);
    let ada = format!("urn:li:person:{ADA}");
    let urn = create(&sim, &writer, &ada, "Post").await;
    let path = format!("/rest/socialActions/{}/comments", encoded(&urn));
    let comment = |actor: &str, object: &str| json!({"actor": actor, "object": object, "message": {"text": "First \\#1"}});
    let post = |token: &str, body: Value| {
        let (sim, path, token) = (&sim, path.clone(), token.to_owned());
        async move {
            call(
                sim,
                reqwest::Method::POST,
                &path,
                &token,
                &[VERSION],
                Some(body),
            )
            .await
        }
    };

    assert_eq!(
        post(&writer, comment(&ada, &urn)).await.0,
        403,
        "no feed scope"
    );
    assert_eq!(
        post(&commenter, comment(ORG, &urn)).await.0,
        403,
        "no organization feed scope"
    );
    assert_eq!(
        post(&commenter, comment(&ada, &urn)).await.0,
        404,
        "a fresh post"
    );
    sim.advance(Duration::from_secs(31));
    assert_eq!(
        post(&commenter, comment(&ada, "urn:li:share:1")).await.0,
        400,
        "object is not the post"
    );
    assert_eq!(post(&commenter, json!({"actor": ada})).await.0, 400);
    let (status, id, _) = post(&commenter, comment(&ada, &urn)).await;
    assert_eq!(status, 201);
    let id = id.unwrap();
    assert!(id.starts_with("urn:li:comment:(urn:li:activity:"), "{id}");
    let comments = sim.comments_on(&urn);
    assert_eq!((comments.len(), comments[0].text.as_str()), (1, "First #1"));
    let unencoded = format!("/rest/socialActions/{urn}/comments");
    let r = call(
        &sim,
        reqwest::Method::POST,
        &unencoded,
        &commenter,
        &[VERSION],
        Some(comment(&ada, &urn)),
    )
    .await;
    assert_eq!(r.0, 400);
}

// --- The product ---

async fn with_scopes(
    scopes: &str,
    adjust: impl FnOnce(&mut local_stack::StackOptions),
) -> (LocalStack, String) {
    let scopes = scopes.to_owned();
    connected(move |o| {
        o.settings.insert("LINKEDIN_SCOPES".into(), scopes);
        o.simulator
            .allowed_scopes
            .push("w_member_social_feed".into());
        adjust(o);
    })
    .await
}

async fn patch(stack: &LocalStack, id: &str, body: Value) -> (u16, Value) {
    stack.move_post("acme", id, body).await
}

/// Publishes `text` by `author` (`None`: the member) and waits for it; returns the post id and
/// its URN.
async fn published(
    stack: &LocalStack,
    connection: &str,
    author: Option<&str>,
    text: &str,
) -> (String, String) {
    let mut body = json!({ "connection_id": connection, "text": text });
    if let Some(author) = author {
        body["author"] = author.into();
    }
    let (status, created) = stack.create_post("acme", body, None).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let post = stack.wait_for_post("acme", &id, &["published"], SLOW).await;
    (id, post["linkedin_urn"].as_str().unwrap().to_owned())
}

/// Waits until the post has no edit pending.
async fn settled(stack: &LocalStack, id: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let post = stack.post("acme", id).await;
        if post["pending_edit"].is_null() {
            return post;
        }
        assert!(started.elapsed() < SLOW, "edit never settled: {post}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn editing_a_published_post_changes_its_commentary_at_linkedin_and_keeps_a_history() {
    let (stack, connection) = with_scopes(MEMBER_SCOPES, |_| {}).await;
    let (id, urn) = published(&stack, &connection, None, "Hello (first)").await;
    let before = stack.simulator().requests().len();
    stack.aws_calls().take();

    let (status, body) = patch(&stack, &id, json!({"text": "Hello (edited) #1"})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["pending_edit"]["text"], "Hello (edited) #1");
    let post = settled(&stack, &id).await;
    assert_eq!(post["text"], "Hello (edited) #1");
    assert_eq!(post["status"], "published");
    let edits = post["edits"].as_array().unwrap();
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0]["previous_text"], "Hello (first)");
    assert!(edits[0]["requested_at"].is_string() && edits[0]["applied_at"].is_string());
    assert_eq!(
        stack.simulator().commentary(&urn).as_deref(),
        Some("Hello (edited) #1")
    );

    let linkedin: Vec<_> = stack.simulator().requests()[before..]
        .iter()
        .map(|r| format!("{} {} {}", r.method, r.path, r.status))
        .collect();
    assert_eq!(
        linkedin,
        [format!("POST /rest/posts/{} 204", encoded(&urn))]
    );
    eprintln!(
        "edit of a published post: LinkedIn {linkedin:?}; AWS {:?}",
        stack.aws_calls().take()
    );

    // Content cannot change; legacy text validation applies; nothing is recorded.
    let (status, body) = patch(
        &stack,
        &id,
        json!({"media": [{"type": "image", "url": "https://cdn.example.com/a.png"}]}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("media")),
        "{body}"
    );
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("new post"));
    assert_eq!(patch(&stack, &id, json!({"text": " "})).await.0, 400);
    assert_eq!(
        patch(&stack, &id, json!({"text": "x".repeat(3001)}))
            .await
            .0,
        400
    );
    assert_eq!(
        stack.post("acme", &id).await["edits"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_scheduled_post_is_edited_locally_before_it_goes_out() {
    let (stack, connection) = with_scopes(MEMBER_SCOPES, |_| {}).await;
    let at = Utc::now() + chrono::Duration::hours(2);
    let (status, created) = stack
        .create_post("acme", json!({"connection_id": connection, "text": "Draft", "scheduled_at": local_stack::rfc3339(at)}), None)
        .await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap();
    let (status, post) = patch(&stack, id, json!({"text": "Final"})).await;
    assert_eq!(
        (status, post["text"].as_str()),
        (200, Some("Final")),
        "{post}"
    );
    assert_eq!(post["status"], "scheduled");
    assert_eq!(post["edits"][0]["previous_text"], "Draft");
    assert!(stack
        .simulator()
        .requests()
        .iter()
        .all(|r| !r.path.starts_with("/rest/posts")));
    let (status, body) = patch(
        &stack,
        id,
        json!({"text": "x", "scheduled_at": local_stack::rfc3339(at)}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("scheduled_at"))
    );
}

#[tokio::test]
async fn an_edit_racing_a_delete_ends_deleted_everywhere() {
    let (stack, connection) = with_scopes(MEMBER_SCOPES, |_| {}).await;
    let (id, urn) = published(&stack, &connection, None, "Going away").await;
    let (edited, deleted) = tokio::join!(
        patch(&stack, &id, json!({"text": "Edited"})),
        stack.delete_post("acme", &id)
    );
    // One conditional write wins; the loser is told to try again, or (an edit after a delete)
    // refused; a delete after an edit wins over the edit.
    assert!([202, 409].contains(&edited.0), "{edited:?}");
    assert!([202, 409].contains(&deleted.0), "{deleted:?}");
    // A tenant told to try again does: the edit's own job may still be changing the post.
    let mut answer = deleted.0;
    for _ in 0..20 {
        if answer != 409 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        answer = stack.delete_post("acme", &id).await.0;
    }
    assert!(
        [200, 202].contains(&answer),
        "the delete was taken: {answer}"
    );
    let post = stack.wait_for_post("acme", &id, &["deleted"], SLOW).await;
    assert!(stack.simulator().live_posts().iter().all(|p| p.urn != urn));
    assert_eq!(
        patch(&stack, &id, json!({"text": "Too late"})).await.0,
        409,
        "{post}"
    );
}

#[tokio::test]
async fn two_racing_edits_end_with_linkedin_and_the_record_agreeing() {
    let (stack, connection) = with_scopes(MEMBER_SCOPES, |_| {}).await;
    let (id, urn) = published(&stack, &connection, None, "Original").await;
    let (a, b) = tokio::join!(
        patch(&stack, &id, json!({"text": "Edit A"})),
        patch(&stack, &id, json!({"text": "Edit B"}))
    );
    assert!(a.0 == 202 || b.0 == 202, "{a:?} {b:?}");
    assert!([202, 409].contains(&a.0) && [202, 409].contains(&b.0));
    let post = settled(&stack, &id).await;
    let text = post["text"].as_str().unwrap().to_owned();
    assert!(text == "Edit A" || text == "Edit B", "{post}");
    assert_eq!(
        stack.simulator().commentary(&urn).as_deref(),
        Some(text.as_str())
    );
    assert_eq!(
        post["edits"].as_array().unwrap().last().unwrap()["text"],
        text.as_str()
    );
}

#[tokio::test]
async fn an_unknown_edit_outcome_is_read_back_for_an_organization_post() {
    let (stack, connection) = with_scopes(ORG_SCOPES, |_| {}).await;
    let (id, urn) = published(&stack, &connection, Some(ORG), "Page news").await;
    stack.simulator().inject(
        Fault::drop_connection("POST", "/rest/posts/")
            .after_handling()
            .times(1),
    );
    assert_eq!(
        patch(&stack, &id, json!({"text": "Page news, corrected"}))
            .await
            .0,
        202
    );
    let post = settled(&stack, &id).await;
    assert_eq!(post["text"], "Page news, corrected");
    assert_eq!(post["edits"].as_array().unwrap().len(), 1);
    let sim = stack.simulator();
    assert_eq!(
        sim.count("POST", "/rest/posts/"),
        1,
        "LinkedIn had it: not sent again"
    );
    assert_eq!(sim.count("GET", "/rest/posts/"), 1, "read back once");
    assert_eq!(sim.edits_of(&urn).len(), 1);
}

#[tokio::test]
async fn an_unknown_edit_outcome_is_resolved_by_sending_again_for_a_member_post() {
    let (stack, connection) = with_scopes(MEMBER_SCOPES, |_| {}).await;
    let (id, urn) = published(&stack, &connection, None, "Member news").await;
    stack.simulator().inject(
        Fault::drop_connection("POST", "/rest/posts/")
            .after_handling()
            .times(1),
    );
    assert_eq!(
        patch(&stack, &id, json!({"text": "Member news, corrected"}))
            .await
            .0,
        202
    );
    let post = settled(&stack, &id).await;
    assert_eq!(post["text"], "Member news, corrected");
    let sim = stack.simulator();
    assert_eq!(
        sim.count("GET", "/rest/posts/"),
        0,
        "member posts cannot be read"
    );
    assert_eq!(
        sim.count("POST", "/rest/posts/"),
        2,
        "sent again: an edit is idempotent"
    );
    assert_eq!(
        sim.commentary(&urn).as_deref(),
        Some("Member news, corrected")
    );
}

#[tokio::test]
async fn an_edit_linkedin_refuses_leaves_the_post_published_with_its_text_and_a_dlq_record() {
    let (stack, connection) = with_scopes(MEMBER_SCOPES, |_| {}).await;
    let (id, urn) = published(&stack, &connection, None, "Stays").await;
    stack
        .simulator()
        .inject(Fault::status("POST", "/rest/posts/", 403).times(1));
    assert_eq!(patch(&stack, &id, json!({"text": "Never"})).await.0, 202);
    let post = settled(&stack, &id).await;
    assert_eq!(
        (post["status"].as_str(), post["text"].as_str()),
        (Some("published"), Some("Stays"))
    );
    assert_eq!(post["last_error"]["code"], "FORBIDDEN");
    assert_eq!(stack.simulator().commentary(&urn).as_deref(), Some("Stays"));
    let (_, records) = stack.get("acme", "/v1/dlq-records").await;
    assert!(
        records["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "edit"),
        "{records}"
    );
}

/// `POST /v1/posts` with a first comment; returns the post id.
async fn publish_with_comment(
    stack: &LocalStack,
    connection: &str,
    text: &str,
    comment: &str,
) -> String {
    let body =
        json!({"connection_id": connection, "text": text, "first_comment": {"text": comment}});
    let (status, created) = stack.create_post("acme", body, None).await;
    assert_eq!(status, 202, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn comment_settled(stack: &LocalStack, id: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let post = stack.post("acme", id).await;
        if post["first_comment"]["status"] != "pending" {
            return post;
        }
        assert!(started.elapsed() < SLOW, "comment never settled: {post}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_first_comment_is_posted_once_the_post_is_published() {
    let (stack, connection) = with_scopes(COMMENT_SCOPES, |_| {}).await;
    let id = publish_with_comment(
        &stack,
        &connection,
        "With a comment",
        "Link in (comments) #1",
    )
    .await;
    let post = comment_settled(&stack, &id).await;
    assert_eq!(post["status"], "published");
    let comment = &post["first_comment"];
    assert_eq!(comment["status"], "posted", "{post}");
    let urn = post["linkedin_urn"].as_str().unwrap();
    let on_linkedin = stack.simulator().comments_on(urn);
    assert_eq!(on_linkedin.len(), 1);
    assert_eq!(
        on_linkedin[0].text, "Link in (comments) #1",
        "escaped as little text"
    );
    assert_eq!(comment["urn"], on_linkedin[0].urn.as_str());
    assert_eq!(comment["attempts"], 1);
}

#[tokio::test]
async fn a_first_comment_waits_out_linkedins_early_404() {
    let (stack, connection) = with_scopes(COMMENT_SCOPES, |o| {
        o.simulator.comment_unavailable_after_post = Duration::from_secs(3);
    })
    .await;
    let id = publish_with_comment(&stack, &connection, "Fresh", "Soon").await;
    let post = comment_settled(&stack, &id).await;
    let comment = &post["first_comment"];
    assert_eq!(comment["status"], "posted", "{post}");
    assert!(comment["attempts"].as_u64().unwrap() >= 2, "{post}");
    let sim = stack.simulator();
    assert!(sim
        .requests()
        .iter()
        .any(|r| r.path.starts_with("/rest/socialActions/") && r.status == 404));
    assert_eq!(
        sim.comments_on(post["linkedin_urn"].as_str().unwrap())
            .len(),
        1
    );
}

#[tokio::test]
async fn a_refused_first_comment_fails_alone_and_the_post_stays_published() {
    let (stack, connection) = with_scopes(COMMENT_SCOPES, |_| {}).await;
    // LinkedIn refuses the comment permission the connection was granted (a product removed
    // from the app since): 403 ACCESS_DENIED.
    let denied = r#"{"status":403,"serviceErrorCode":100,"code":"ACCESS_DENIED","message":"Not enough permissions to access: socialActions.comments.CREATE"}"#;
    stack
        .simulator()
        .inject(Fault::status("POST", "/rest/socialActions/", 403).body(denied));
    let id = publish_with_comment(&stack, &connection, "Comment refused", "Never").await;
    let post = comment_settled(&stack, &id).await;
    assert_eq!(post["status"], "published");
    assert!(post["last_error"].is_null(), "{post}");
    let comment = &post["first_comment"];
    assert_eq!(comment["status"], "failed");
    assert_eq!(comment["last_error"]["code"], "FORBIDDEN");
    assert!(stack
        .simulator()
        .comments_on(post["linkedin_urn"].as_str().unwrap())
        .is_empty());
    let (_, records) = stack.get("acme", "/v1/dlq-records").await;
    assert!(
        records["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["action"] == "comment"),
        "{records}"
    );

    // Without the comment scope the API refuses before anything is recorded.
    let (stack, connection) = with_scopes(MEMBER_SCOPES, |_| {}).await;
    let body = json!({"connection_id": connection, "text": "x", "first_comment": {"text": "y"}});
    let (status, body) = stack.create_post("acme", body, None).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("first_comment")),
        "{body}"
    );
}

#[tokio::test]
async fn a_first_comment_whose_job_could_not_be_queued_is_queued_on_redelivery() {
    use local_stack::counting::{AwsFault, AwsFaultKind};
    let (stack, connection) = with_scopes(COMMENT_SCOPES, |_| {}).await;
    // The test's own publish job goes through; the publisher's comment job is refused once.
    stack.aws_faults().inject(
        AwsFault::new("SQS", AwsFaultKind::AccessDenied)
            .operation("SendMessage")
            .after(1)
            .times(1),
    );
    let id = publish_with_comment(&stack, &connection, "Queue trouble", "Still here").await;
    let post = comment_settled(&stack, &id).await;
    assert_eq!(post["first_comment"]["status"], "posted", "{post}");
    let urn = post["linkedin_urn"].as_str().unwrap();
    assert_eq!(stack.simulator().comments_on(urn).len(), 1);
    assert_eq!(
        stack.simulator().count("POST", "/rest/posts"),
        1,
        "published once"
    );
    let calls = stack.aws_calls().snapshot();
    assert_eq!(
        calls["SQS.SendMessage"], 3,
        "publish, refused comment, comment: {calls:?}"
    );
}

/// Deterministic orders of the races above: the jobs run only when the test says.
#[tokio::test]
async fn a_delete_recorded_after_an_edit_wins_and_a_later_edit_replaces_a_pending_one() {
    let (stack, connection) = with_scopes(MEMBER_SCOPES, |o| o.run_publisher = false).await;
    let deleted = stack.publish_text("acme", &connection, "To delete").await;
    let edited = stack.publish_text("acme", &connection, "To edit").await;
    stack.run_publish_queue().await;
    for id in [&deleted, &edited] {
        assert_eq!(stack.post("acme", id).await["status"], "published");
    }

    assert_eq!(
        patch(&stack, &deleted, json!({"text": "Edited"})).await.0,
        202
    );
    assert_eq!(stack.delete_post("acme", &deleted).await.0, 202);
    assert_eq!(
        patch(&stack, &edited, json!({"text": "Edit A"})).await.0,
        202
    );
    assert_eq!(
        patch(&stack, &edited, json!({"text": "Edit B"})).await.0,
        202
    );
    while stack.run_publish_queue().await > 0 {}

    let post = stack.post("acme", &deleted).await;
    assert_eq!(post["status"], "deleted", "{post}");
    assert!(
        post["edits"].as_array().is_none_or(|e| e.is_empty()),
        "{post}"
    );
    let urn = post["linkedin_urn"].as_str().unwrap();
    let sim = stack.simulator();
    assert!(sim.edits_of(urn).is_empty(), "the edit was never sent");

    let post = stack.post("acme", &edited).await;
    assert_eq!(post["text"], "Edit B", "{post}");
    let edits = post["edits"].as_array().unwrap();
    assert_eq!(
        edits.len(),
        1,
        "Edit A was replaced before it went out: {post}"
    );
    assert_eq!(edits[0]["previous_text"], "To edit");
    let urn = post["linkedin_urn"].as_str().unwrap();
    assert_eq!(sim.commentary(urn).as_deref(), Some("Edit B"));
    assert!(sim.edits_of(urn).iter().all(|e| e.commentary == "Edit B"));
}
