//! moto's server as a child process, tied to its parent's life: it is stopped when the parent
//! exits, even if the parent never runs a destructor (test binaries keep it in a static).

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

pub struct MotoServer {
    pub endpoint: String,
    _child: Child,
    // Closing this pipe (the parent exiting) makes the wrapper stop moto.
    _lifeline: ChildStdin,
}

/// Where the project's bootstrap installs moto; `MOTO_SERVER_BIN` overrides.
pub fn moto_binary() -> PathBuf {
    if let Ok(bin) = std::env::var("MOTO_SERVER_BIN") {
        return bin.into();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    root.join(".venv/bin/moto_server")
}

impl MotoServer {
    /// Starts moto on `port` (0 picks a free one) and waits until it answers.
    pub fn start(port: u16) -> anyhow::Result<Self> {
        let bin = moto_binary();
        if !bin.exists() {
            bail!(
                "moto_server not found at {}: run `make setup` (or scripts/bootstrap.sh) first",
                bin.display()
            );
        }
        let port = if port == 0 { free_port()? } else { port };
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & moto=$!; trap 'kill $moto 2>/dev/null' EXIT; echo started; read -r _"#)
            .arg(&bin)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting moto_server")?;
        let lifeline = child.stdin.take().expect("piped stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("moto_server did not listen on port {port} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            _child: child,
            _lifeline: lifeline,
        })
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
