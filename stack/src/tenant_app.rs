//! The tenant's app and the member's browser, as tests and the kit's tools (the chaos run, the
//! benchmarks) drive the stack: requests through the gateway with the tenant's dev JWT, and the
//! member's consent at the simulator.
//!
//! These stand in for a test's client, as zero-to-production's `TestApp` does: they panic when
//! the stack does not answer as a working one must (no answer at all, a connect that does not
//! connect), which fails the test or ends the tool's run. What the product answers is returned
//! for the caller to judge.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use url::Url;

use crate::LocalStack;

/// An HTTP client that, like a test should, looks at redirects instead of following them.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

/// The query parameter `name` of the URL `location`, if it has one.
pub fn query_param(location: &str, name: &str) -> Option<String> {
    Url::parse(location)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A time as the API reads and writes it: RFC 3339, whole seconds, UTC.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The answer's status and JSON body (`Null` when it has none).
pub(crate) async fn answer(request: RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

impl LocalStack {
    /// A request to the gateway as `tenant` (with its dev JWT), for the caller to finish.
    pub fn request(&self, method: Method, tenant: &str, path: &str) -> RequestBuilder {
        self.http
            .request(
                method,
                self.gateway_url.join(path).expect("a path on the gateway"),
            )
            .bearer_auth(self.token_for(tenant))
    }

    /// `GET path` as `tenant`.
    pub async fn get(&self, tenant: &str, path: &str) -> (u16, Value) {
        answer(self.request(Method::GET, tenant, path)).await
    }

    /// `POST /v1/connections/linkedin/authorize` as `tenant`.
    pub async fn authorize(&self, tenant: &str, body: Value) -> Response {
        self.request(Method::POST, tenant, "/v1/connections/linkedin/authorize")
            .json(&body)
            .send()
            .await
            .expect("authorize request")
    }

    /// Starts an authorization and returns its URL.
    pub async fn authorization_url(&self, tenant: &str, body: Value) -> String {
        let response = self.authorize(tenant, body).await;
        assert_eq!(response.status(), 200);
        let json: Value = response.json().await.expect("authorize answer");
        json["authorization_url"]
            .as_str()
            .expect("authorization_url")
            .to_owned()
    }

    /// `POST /v1/connections/{id}/reconnect` as `tenant` with `body`: its status and answer.
    pub async fn reconnect(&self, tenant: &str, connection: &str, body: Value) -> (u16, Value) {
        answer(
            self.request(
                Method::POST,
                tenant,
                &format!("/v1/connections/{connection}/reconnect"),
            )
            .json(&body),
        )
        .await
    }

    /// The member decides on LinkedIn; the browser follows LinkedIn's redirect to our callback.
    pub async fn consent_and_return(
        &self,
        authorization_url: &str,
        member: Option<&str>,
        allow: bool,
    ) -> Response {
        let location = self
            .simulator()
            .consent(authorization_url, member, allow)
            .expect("consent");
        self.http
            .get(location)
            .send()
            .await
            .expect("callback request")
    }

    /// A whole connect as `tenant` for `member` (the simulator's default member when `None`);
    /// returns the connection id.
    pub async fn connect(&self, tenant: &str, member: Option<&str>) -> String {
        let done = self
            .gateway_url
            .join("/done")
            .expect("a path on the gateway");
        let url = self
            .authorization_url(tenant, json!({ "redirect_after": done }))
            .await;
        let response = self.consent_and_return(&url, member, true).await;
        assert_eq!(response.status(), 302, "{:?}", response.text().await);
        let location = response.headers()["location"]
            .to_str()
            .expect("a location")
            .to_owned();
        query_param(&location, "connection_id")
            .unwrap_or_else(|| panic!("no connection_id in {location}"))
    }

    /// Starts an authorization with `body`, lets the member allow (or cancel) at LinkedIn, and
    /// returns where the callback sends the browser back to (its 302 `location`).
    pub async fn landing(&self, tenant: &str, body: Value, allow: bool) -> String {
        let url = self.authorization_url(tenant, body).await;
        let response = self.consent_and_return(&url, None, allow).await;
        assert_eq!(response.status(), 302, "{:?}", response.text().await);
        response.headers()["location"]
            .to_str()
            .expect("a location")
            .to_owned()
    }

    /// An operator's dev JWT: the admin scope (`ADMIN_SCOPE`), no tenant.
    pub fn admin_token(&self) -> String {
        self.jwt.mint_admin(&self.config.admin_scope, 24)
    }

    /// `method /v1/admin/tenants/{tenant}/settings` with `token` (and `body` as JSON, if any).
    pub async fn tenant_settings_with(
        &self,
        method: Method,
        token: &str,
        tenant: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let path = format!("/v1/admin/tenants/{tenant}/settings");
        let mut request = self
            .http
            .request(
                method,
                self.gateway_url.join(&path).expect("a path on the gateway"),
            )
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request).await
    }

    /// `GET /v1/admin/tenants/{tenant}/settings` as an admin.
    pub async fn tenant_settings(&self, tenant: &str) -> (u16, Value) {
        self.tenant_settings_with(Method::GET, &self.admin_token(), tenant, None)
            .await
    }

    /// `PUT /v1/admin/tenants/{tenant}/settings` as an admin.
    pub async fn put_tenant_settings(&self, tenant: &str, body: Value) -> (u16, Value) {
        self.tenant_settings_with(Method::PUT, &self.admin_token(), tenant, Some(body))
            .await
    }

    /// The tenant's connections (`GET /v1/connections`, first page).
    pub async fn connections(&self, tenant: &str) -> Vec<Value> {
        let (status, body) = self.get(tenant, "/v1/connections").await;
        assert_eq!(status, 200, "{body}");
        body["connections"]
            .as_array()
            .expect("a list of connections")
            .clone()
    }

    /// `GET /v1/connections/{id}` as `tenant` (the answer must be 200).
    pub async fn connection(&self, tenant: &str, id: &str) -> Value {
        let (status, body) = self.get(tenant, &format!("/v1/connections/{id}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// `DELETE /v1/connections/{id}` as `tenant`.
    pub async fn disconnect(&self, tenant: &str, id: &str) -> (u16, Value) {
        answer(self.request(Method::DELETE, tenant, &format!("/v1/connections/{id}"))).await
    }

    /// `POST /v1/posts` as `tenant`, with an Idempotency-Key when `key` is given.
    pub async fn create_post(&self, tenant: &str, body: Value, key: Option<&str>) -> (u16, Value) {
        let mut request = self.request(Method::POST, tenant, "/v1/posts").json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        answer(request).await
    }

    /// Asks for a text post on `connection` now; returns its id once the API has queued it.
    pub async fn publish_text(&self, tenant: &str, connection: &str, text: &str) -> String {
        let (status, body) = self
            .create_post(
                tenant,
                json!({ "connection_id": connection, "text": text }),
                None,
            )
            .await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["status"], "queued");
        body["id"].as_str().expect("a post id").to_owned()
    }

    /// The post as the API shows it (`GET /v1/posts/{id}`, which must answer 200).
    pub async fn post(&self, tenant: &str, id: &str) -> Value {
        let (status, post) = self.get(tenant, &format!("/v1/posts/{id}")).await;
        assert_eq!(status, 200, "{post}");
        post
    }

    /// Polls the post until it reaches one of `statuses` (or panics after `within`).
    pub async fn wait_for_post(
        &self,
        tenant: &str,
        id: &str,
        statuses: &[&str],
        within: Duration,
    ) -> Value {
        let started = Instant::now();
        loop {
            let post = self.post(tenant, id).await;
            if statuses.contains(&post["status"].as_str().unwrap_or_default()) {
                return post;
            }
            assert!(
                started.elapsed() < within,
                "post never reached {statuses:?}: {post}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `PATCH /v1/posts/{id}` as `tenant`: moves a scheduled post.
    pub async fn move_post(&self, tenant: &str, id: &str, body: Value) -> (u16, Value) {
        answer(
            self.request(Method::PATCH, tenant, &format!("/v1/posts/{id}"))
                .json(&body),
        )
        .await
    }

    /// `DELETE /v1/posts/{id}` as `tenant`: cancels a post not yet out, deletes a published one.
    pub async fn delete_post(&self, tenant: &str, id: &str) -> (u16, Value) {
        answer(self.request(Method::DELETE, tenant, &format!("/v1/posts/{id}"))).await
    }

    /// `GET /v1/dlq-records?{query}` as `tenant`: the records of the page (the answer must be
    /// 200).
    pub async fn dlq_records(&self, tenant: &str, query: &str) -> Vec<Value> {
        let (status, page) = self.get(tenant, &format!("/v1/dlq-records?{query}")).await;
        assert_eq!(status, 200, "{page}");
        page["records"].as_array().cloned().unwrap_or_default()
    }

    /// `POST /v1/dlq-records/{id}/retry` as `tenant`: the record's job put back.
    pub async fn retry_dlq_record(&self, tenant: &str, id: &str) -> (u16, Value) {
        answer(self.request(Method::POST, tenant, &format!("/v1/dlq-records/{id}/retry"))).await
    }

    /// `DELETE /v1/dlq-records/{id}` as `tenant`: the record dismissed.
    pub async fn dismiss_dlq_record(&self, tenant: &str, id: &str) -> (u16, Value) {
        answer(self.request(Method::DELETE, tenant, &format!("/v1/dlq-records/{id}"))).await
    }

    /// `POST /v1/connections/{id}/retry-failed` as `tenant`: every failed post put back.
    pub async fn retry_failed(&self, tenant: &str, connection: &str) -> (u16, Value) {
        answer(self.request(
            Method::POST,
            tenant,
            &format!("/v1/connections/{connection}/retry-failed"),
        ))
        .await
    }
}
