//! moto's AWS server on a free port, seeded with test estates, stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, repo_root};

/// moto's AWS server (`moto_server`, from the project's `.venv`), on a free port, stopped when
/// dropped.
pub struct MotoServer {
    child: Child,
    port: u16,
    /// Where moto writes the requests it records (`record_requests`), one file per server.
    recording: tempfile::NamedTempFile,
}

/// A tool of the project's venv (`.venv/bin/NAME`, where `scripts/test.sh` installs moto,
/// pyarrow, …), else `NAME` from the PATH.
pub fn venv_tool(name: &str) -> PathBuf {
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
        let recording = tempfile::NamedTempFile::new().expect("a file for moto's recording");
        let child = Command::new(venv_tool("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_RECORDER_FILEPATH", recording.path())
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
        MotoServer {
            child,
            port,
            recording,
        }
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

impl MotoServer {
    /// Runs a few lines of boto3 with `s3`, an S3 client of this server (moto's default
    /// account, eu-west-1); answers what they print.
    pub fn s3(&self, code: &str) -> String {
        self.client("s3", code)
    }

    /// Runs a few lines of boto3 with a client of `service` in a variable of that name (moto's
    /// default account, eu-west-1); answers what they print.
    pub fn client(&self, service: &str, code: &str) -> String {
        let script = format!(
            "import boto3, json\n{service}=boto3.client('{service}',endpoint_url='{ep}',region_name='eu-west-1',\
             aws_access_key_id='testing',aws_secret_access_key='testing')\n{code}\n",
            ep = self.url()
        );
        String::from_utf8(python(&["-c", &script])).expect("UTF-8 output")
    }

    /// Starts moto's request recorder: every request from here on is written down, bodies
    /// included (see [`MotoServer::recorded_bodies`]).
    pub fn record_requests(&self) {
        let script = format!(
            "import urllib.request\nurllib.request.urlopen(urllib.request.Request('{ep}/moto-api/recorder/start-recording', method='POST'))\n",
            ep = self.url()
        );
        python(&["-c", &script]);
    }

    /// The bodies of the requests recorded since [`MotoServer::record_requests`] (moto keeps
    /// them base64-encoded), in order.
    pub fn recorded_bodies(&self) -> Vec<String> {
        use base64::Engine;
        let text = std::fs::read_to_string(self.recording.path()).expect("moto's recording");
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .map(|request| {
                let body = request["body"].as_str().unwrap_or_default();
                if request["body_encoded"] == true {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(body)
                        .unwrap_or_default();
                    String::from_utf8_lossy(&bytes).into_owned()
                } else {
                    body.to_string()
                }
            })
            .collect()
    }

    /// An SDK configuration that talks to this server (static test credentials, eu-west-1).
    #[cfg(feature = "s3")]
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.url())
            .region(aws_config::Region::new("eu-west-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "moto",
            ))
            .load()
            .await
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
