//! Test support: a throw-away `redis-server` on a free port, stopped when dropped, and helpers
//! that build Lambda events the way AWS does. Compiled only with the `test-support` feature.

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use flate2::{write::GzEncoder, Compression};

/// A `redis-server` child process.
/// [`InterfaceFacts::new`] from text addresses: one test interface in one line.
pub fn interface(
    id: &str,
    account: &str,
    region: &str,
    description: &str,
    private: &str,
    public: &str,
) -> crate::model::InterfaceFacts {
    let ip = |s: &str| s.parse().expect("a test address");
    crate::model::InterfaceFacts::new(id, account, region, description, (ip(private), ip(public)))
}

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    persistent: bool,
    cluster: bool,
    tls: bool,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

fn server_binary() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

impl RedisServer {
    /// A plain single node, no persistence.
    pub fn start() -> RedisServer {
        Self::launch(false, false, false)
    }

    /// A node that speaks only TLS, with a self-signed certificate made by `openssl`
    /// (as ElastiCache requires TLS; its certificates are publicly trusted, this one is not).
    pub fn start_tls() -> RedisServer {
        Self::launch(false, false, true)
    }

    /// A node that writes every command to its append-only file, so it can be stopped and
    /// started again with its data.
    pub fn start_persistent() -> RedisServer {
        Self::launch(true, false, false)
    }

    /// A one-node Redis Cluster owning all 16384 slots: cross-slot commands fail as on
    /// ElastiCache, and clients must speak the cluster protocol.
    pub fn start_cluster() -> RedisServer {
        Self::launch(false, true, false)
    }

    fn launch(persistent: bool, cluster: bool, tls: bool) -> RedisServer {
        let dir = tempfile::tempdir().expect("temp dir for redis");
        if tls {
            let out = Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                ])
                .args([
                    "-subj",
                    "/CN=127.0.0.1",
                    "-addext",
                    "subjectAltName=IP:127.0.0.1",
                ])
                .arg("-keyout")
                .arg(dir.path().join("key.pem"))
                .arg("-out")
                .arg(dir.path().join("cert.pem"))
                .output()
                .expect("openssl runs");
            assert!(out.status.success(), "openssl failed: {out:?}");
        }
        let mut server = RedisServer {
            child: None,
            port: free_port(),
            dir,
            persistent,
            cluster,
            tls,
        };
        server.spawn();
        if cluster {
            let out = Command::new(cli_binary())
                .args([
                    "-p",
                    &server.port.to_string(),
                    "CLUSTER",
                    "ADDSLOTSRANGE",
                    "0",
                    "16383",
                ])
                .output()
                .expect("redis-cli runs");
            assert!(
                out.status.success(),
                "CLUSTER ADDSLOTSRANGE failed: {out:?}"
            );
            server.wait_for(
                |info| info.contains("cluster_state:ok"),
                &["CLUSTER", "INFO"],
            );
        }
        server
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new(server_binary());
        if self.tls {
            cmd.args(["--port", "0", "--tls-auth-clients", "no", "--tls-port"])
                .arg(self.port.to_string())
                .arg("--tls-cert-file")
                .arg(self.dir.path().join("cert.pem"))
                .arg("--tls-key-file")
                .arg(self.dir.path().join("key.pem"));
        } else {
            cmd.arg("--port").arg(self.port.to_string());
        }
        cmd.arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--save")
            .arg("")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.persistent {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        if self.cluster {
            cmd.args(["--cluster-enabled", "yes", "--cluster-config-file"])
                .arg(self.dir.path().join("nodes.conf"));
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start `{}` ({e}); install redis-server (scripts/test.sh does) or set REDIS_SERVER",
                server_binary()
            )
        });
        self.child = Some(child);
        self.wait_for(|reply| reply.contains("PONG"), &["PING"]);
    }

    fn wait_for(&self, ready: impl Fn(&str) -> bool, command: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = Command::new(cli_binary())
                .args(self.cli_connection())
                .args(command)
                .output();
            if let Ok(out) = out {
                if ready(&String::from_utf8_lossy(&out.stdout)) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not become ready",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's URL; for TLS, `#insecure` accepts its self-signed certificate.
    pub fn url(&self) -> String {
        if self.tls {
            format!("rediss://127.0.0.1:{}/#insecure", self.port)
        } else {
            format!("redis://127.0.0.1:{}", self.port)
        }
    }

    fn cli_connection(&self) -> Vec<String> {
        let mut args = vec!["-p".to_string(), self.port.to_string()];
        if self.tls {
            args.extend(["--tls".to_string(), "--insecure".to_string()]);
        }
        args
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Kills the server (no goodbye, as a crash or a network cut would look to clients).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (with its data if persistent).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Runs `redis-cli` against the server and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(cli_binary())
            .args(self.cli_connection())
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn cli_binary() -> String {
    std::env::var("REDIS_CLI").unwrap_or_else(|_| "redis-cli".into())
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// gzip + base64, as CloudWatch Logs encodes a subscription payload.
pub fn encode_payload(json: &[u8]) -> String {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(json).expect("gzip in memory");
    base64::engine::general_purpose::STANDARD.encode(gz.finish().expect("gzip in memory"))
}

/// A CloudWatch Logs subscription message (DATA_MESSAGE) with the given lines.
pub fn logs_message(
    owner: &str,
    log_group: &str,
    lines: &[&str],
    timestamp_ms: u64,
) -> serde_json::Value {
    let events: Vec<serde_json::Value> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            serde_json::json!({
                "id": format!("{:056}", timestamp_ms as u128 * 1000 + i as u128),
                "timestamp": timestamp_ms,
                "message": line,
            })
        })
        .collect();
    serde_json::json!({
        "messageType": "DATA_MESSAGE",
        "owner": owner,
        "logGroup": log_group,
        "logStream": "eni-0123456789abcdef0-all",
        "subscriptionFilters": ["connection-tracker"],
        "logEvents": events,
    })
}

/// A CloudWatch Logs subscription event carrying a message.
pub fn logs_event(message: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({"awslogs": {"data": encode_payload(message.to_string().as_bytes())}})
}

/// A Kinesis event whose records carry the given base64 payloads.
pub fn kinesis_event(datas: &[String]) -> serde_json::Value {
    let records: Vec<serde_json::Value> = datas
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let seq = format!("4959030315254838219491834617{:020}", i);
            serde_json::json!({
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": "0123456789abcdef",
                    "sequenceNumber": seq,
                    "data": data,
                    "approximateArrivalTimestamp": 1_764_237_600.123,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": format!("shardId-000000000000:{seq}"),
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/connection-tracker-ingest",
                "awsRegion": "eu-west-1",
                "eventSourceARN": "arn:aws:kinesis:eu-west-1:123456789012:stream/connection-tracker-flow-logs",
            })
        })
        .collect();
    serde_json::json!({ "Records": records })
}

/// moto's AWS server (`moto_server`, from the project's `.venv`), on a free port, stopped when
/// dropped.
pub struct MotoServer {
    child: Child,
    port: u16,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn venv_tool(name: &str) -> PathBuf {
    let local = repo_root().join(".venv/bin").join(name);
    if local.exists() {
        local
    } else {
        PathBuf::from(name)
    }
}

impl MotoServer {
    pub fn start() -> MotoServer {
        let port = free_port();
        let child = Command::new(venv_tool("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start moto_server ({e}); scripts/test.sh installs it into .venv")
            });
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        MotoServer { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs `scripts/moto_estate.py` against this server and returns the estate it made.
    pub fn seed_estate(
        &self,
        table: &str,
        accounts: &[&str],
        regions: &[&str],
        disabled: &[&str],
        extra: usize,
    ) -> serde_json::Value {
        let script = repo_root().join("scripts/moto_estate.py");
        let stdout = python(&[
            script.to_str().expect("a UTF-8 path"),
            "--endpoint",
            &self.url(),
            "--table",
            table,
            "--accounts",
            &accounts.join(","),
            "--regions",
            &regions.join(","),
            "--disabled",
            &disabled.join(","),
            "--extra",
            &extra.to_string(),
        ]);
        serde_json::from_slice(&stdout).expect("the estate as JSON")
    }

    /// Runs a few lines of boto3 against this server as `account` (for changes between runs).
    pub fn boto3(&self, account: &str, region: &str, code: &str) {
        let script = format!(
            "import boto3\nep='{ep}'\nb=dict(endpoint_url=ep,region_name='{region}',aws_access_key_id='testing',aws_secret_access_key='testing')\n\
             c=boto3.client('sts',**b).assume_role(RoleArn='arn:aws:iam::{account}:role/connection-tracker-reader',RoleSessionName='test')['Credentials']\n\
             kw=dict(endpoint_url=ep,region_name='{region}',aws_access_key_id=c['AccessKeyId'],aws_secret_access_key=c['SecretAccessKey'],aws_session_token=c['SessionToken'])\n\
             ec2=boto3.client('ec2',**kw)\n{code}\n",
            ep = self.url()
        );
        python(&["-c", &script]);
    }
}

/// Runs the venv's python; panics with its stderr when it fails, else returns its stdout.
fn python(args: &[&str]) -> Vec<u8> {
    let out = Command::new(venv_tool("python"))
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python {} failed: {}",
        args.first().unwrap_or(&""),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A small xorshift generator for benchmarks: the same data on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Serves an [`Api`] over plain HTTP/1.1 on a free loopback port, for clients under test (the
/// `ctrack` command). One request per connection; the headers of every request are kept.
pub struct ServedApi {
    pub url: String,
    /// The headers of each request, lower-case names.
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<Headers>>>,
}

pub type Headers = Vec<(String, String)>;

/// Reads an HTTP/1.1 request head (up to the blank line); `None` if the peer goes away first.
pub async fn read_http_head(socket: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

pub async fn serve_api<S: crate::store::ReadStore + 'static>(
    api: crate::api::Api<S>,
    today: time::Date,
) -> ServedApi {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = requests.clone();
    let api = std::sync::Arc::new(api);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (api, seen) = (api.clone(), seen.clone());
            tokio::spawn(async move {
                let Some(head) = read_http_head(&mut socket).await else {
                    return;
                };
                let mut lines = head.split("\r\n");
                let mut first = lines.next().unwrap_or("").split(' ');
                let method = first.next().unwrap_or("").to_string();
                let target = first.next().unwrap_or("/").to_string();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let accepts_gzip = headers
                    .iter()
                    .any(|(k, v)| k == "accept-encoding" && v.contains("gzip"));
                seen.lock().expect("not poisoned").push(headers);
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let response = api
                    .handle(
                        crate::api::Request {
                            method: &method,
                            path,
                            query,
                            accepts_gzip,
                        },
                        today,
                    )
                    .await;
                let mut out = format!(
                    "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                    response.status,
                    response.body.len()
                );
                for (name, value) in &response.headers {
                    out.push_str(&format!("{name}: {value}\r\n"));
                }
                out.push_str("\r\n");
                let _ = socket.write_all(out.as_bytes()).await;
                let _ = socket.write_all(&response.body).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    ServedApi { url, requests }
}
