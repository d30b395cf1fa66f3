//! A person connects an account: headless Chromium opens the authorization URL, clicks Allow on
//! the simulator's consent page, and lands on the product's callback page.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use local_stack::test_stack;
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_chromedriver() -> (Driver, String) {
    assert!(
        std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists(),
        "Chromium and ChromeDriver are needed for the browser test: run `make setup` \
         (apt-get install chromium chromium-driver)"
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Driver(child), format!("http://127.0.0.1:{port}"))
}

#[tokio::test]
async fn a_person_connects_an_account_by_clicking_allow_in_a_browser() {
    if std::env::var("SKIP_BROWSER_TEST").is_ok_and(|v| v == "1") {
        eprintln!("SKIP_BROWSER_TEST=1: browser test skipped");
        return;
    }
    let stack = test_stack(|_| {}).await;
    let url = stack.authorization_url("demo", json!({})).await;

    let (_driver, webdriver) = start_chromedriver();
    let profile = std::env::temp_dir().join(format!("chromium-{}", uuid::Uuid::new_v4()));
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            // Closed network: without the background-networking flags Chromium keeps trying
            // to reach Google's hosts.
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", format!("--user-data-dir={}", profile.display())],
        }),
    );
    let browser = ClientBuilder::rustls()
        .expect("TLS roots")
        .capabilities(caps)
        .connect(&webdriver)
        .await
        .expect("a Chromium session");

    let result = async {
        browser.goto(&url).await?;
        let scopes = browser.find(Locator::Id("scopes")).await?.text().await?;
        assert!(
            scopes.contains("w_member_social"),
            "the consent page lists the scopes: {scopes}"
        );
        browser.find(Locator::Id("allow")).await?.click().await?;
        let shown = browser
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Id("connection-id"))
            .await?
            .text()
            .await?;
        let title = browser.title().await?;
        Ok::<_, fantoccini::error::CmdError>((shown, title))
    }
    .await;
    let _ = browser.close().await;
    let _ = std::fs::remove_dir_all(&profile);
    let (shown, title) = result.expect("browser steps");

    assert_eq!(title, "LinkedIn connected");
    let listed = stack.connections("demo").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], shown.as_str());
    assert_eq!(listed[0]["status"], "healthy");
}
