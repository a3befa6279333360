//! A throw-away `redis-server` on a free port — plain, with persistence, TLS-only or as a
//! cluster — stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

/// A `redis-server` child process.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    persistent: bool,
    cluster: bool,
    tls: bool,
    /// The cluster bus port (set explicitly: the default, port + 10000, may be taken or > 65535).
    bus_port: u16,
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
        let server = Self::launch_node(persistent, cluster, tls);
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

    fn launch_node(persistent: bool, cluster: bool, tls: bool) -> RedisServer {
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
            bus_port: free_port(),
        };
        server.spawn();
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
                .arg(self.dir.path().join("nodes.conf"))
                .arg("--cluster-port")
                .arg(self.bus_port.to_string());
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
    /// Every counter of `day` (`YYYY-MM-DD`), key by key with its members and scores, as one
    /// text: two servers that counted the same hold the same text.
    pub fn day_counters(&self, day: &str) -> String {
        let mut keys: Vec<String> = self
            .cli(&["--scan", "--pattern", &format!("ct:{{{day}:*}}:conn")])
            .lines()
            .map(String::from)
            .collect();
        keys.sort();
        assert!(!keys.is_empty(), "no counters of {day}");
        keys.iter()
            .map(|k| format!("{k}\n{}", self.cli(&["ZRANGE", k, "0", "-1", "WITHSCORES"])))
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(cli_binary())
            .args(self.cli_connection())
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// A real Redis Cluster of three masters (no replicas), each a `redis-server
/// --cluster-enabled yes` on free ports, joined by `redis-cli --cluster create`: keys spread over
/// nodes, and a client must follow `MOVED` redirects and keep every command within one slot.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start_three_masters() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| RedisServer::launch_node(false, true, false))
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new(cli_binary())
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli runs");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {out:?}"
        );
        for node in &nodes {
            node.wait_for(
                |info| info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3"),
                &["CLUSTER", "INFO"],
            );
        }
        RedisCluster { nodes }
    }

    /// The first node's URL: the client discovers the others from it.
    pub fn url(&self) -> String {
        self.nodes[0].url()
    }

    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// How many keys each node holds, in node order.
    pub fn keys_per_node(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .map(|n| n.cli(&["DBSIZE"]).trim().parse().unwrap_or(0))
            .collect()
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
