//! A real S3-compatible server for tests: SeaweedFS (`weed mini`), which checks SigV4
//! signatures and honours conditional writes, on loopback ports of its own.
//!
//! `make test` installs `weed` into `.tools/bin` (scripts/install-deps.sh) and puts it on
//! `PATH`. Each [`Seaweed`] is one server with its own folder and one bucket, stopped
//! when dropped (and killed with the test process, should that die first).

// The fixture starts SeaweedFS itself.
#![allow(clippy::disallowed_methods)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use burrow_config::{BlobConfig, Secret};

const ACCESS_KEY: &str = "burrow-test";
const SECRET_KEY: &str = "burrow-test-secret";
/// SeaweedFS serves each component's gRPC on its HTTP port plus this, whatever it is told
/// for some of them: both ports of each pair must be free.
const GRPC_OFFSET: u16 = 10_000;

/// A running SeaweedFS with one bucket; see the module documentation.
#[derive(Debug)]
pub struct Seaweed {
    /// The S3 endpoint, such as `http://127.0.0.1:24333`.
    pub endpoint: String,
    pub bucket: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl Seaweed {
    /// Starts a server with a bucket named `bucket` and waits until its S3 endpoint
    /// answers signed requests.
    pub async fn start(bucket: &str) -> Self {
        for _ in 0..3 {
            let mut server = Self::launch(bucket);
            if server.wait_ready().await {
                return server;
            }
            // It exited: most likely one of its ports was taken between being found free
            // and being bound. Again, on fresh ports.
            eprintln!("SeaweedFS exited while starting:\n{}", server.log());
        }
        panic!("SeaweedFS exited while starting, three times: see the logs above");
    }

    fn launch(bucket: &str) -> Self {
        let dir = tempfile::tempdir().expect("a folder for SeaweedFS");
        let identities = dir.path().join("identities.json");
        std::fs::write(
            &identities,
            serde_json::json!({"identities": [{
                "name": "burrow",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }]})
            .to_string(),
        )
        .unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let ports = free_port_pairs(5);
        let [master, volume, filer, s3, admin] = ports[..] else {
            unreachable!()
        };
        let mut args = vec![
            "mini".to_owned(),
            format!("-dir={}", data.display()),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            format!("-s3.config={}", identities.display()),
            format!("-bucket={bucket}"),
            "-webdav=false".into(),
            "-admin.ui=false".into(),
            "-s3.port.iceberg=0".into(),
            "-s3.port.lance=0".into(),
        ];
        for (name, port) in [
            ("master", master),
            ("volume", volume),
            ("filer", filer),
            ("s3", s3),
            ("admin", admin),
        ] {
            args.push(format!("-{name}.port={port}"));
            args.push(format!("-{name}.port.grpc={}", port + GRPC_OFFSET));
        }
        let log = std::fs::File::create(dir.path().join("weed.log")).unwrap();
        let mut command = Command::new("weed");
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        die_with_parent(&mut command);
        let child = command
            .spawn()
            .expect("weed runs: `make test` installs SeaweedFS into .tools/bin");
        Self {
            endpoint: format!("http://127.0.0.1:{s3}"),
            bucket: bucket.to_owned(),
            child,
            dir,
        }
    }

    /// Burrow's configuration for this server's bucket; requests time out after
    /// `timeout_secs` and are retried for `retry_secs`.
    pub fn config(&self, timeout_secs: u64, retry_secs: u64) -> BlobConfig {
        BlobConfig::S3 {
            bucket: self.bucket.clone(),
            region: Some("us-east-1".into()),
            endpoint: Some(self.endpoint.clone()),
            access_key_id: Some(Secret::new(ACCESS_KEY)),
            secret_access_key: Some(Secret::new(SECRET_KEY)),
            allow_http: true,
            timeout_secs,
            retry_secs,
        }
    }

    /// `burrow serve`'s settings for this server's bucket, reached at `endpoint` (this
    /// server's own, or a relay to it).
    pub fn env(&self, endpoint: &str) -> Vec<(String, String)> {
        [
            ("BURROW_BLOBS__KIND", "s3"),
            ("BURROW_BLOBS__BUCKET", self.bucket.as_str()),
            ("BURROW_BLOBS__REGION", "us-east-1"),
            ("BURROW_BLOBS__ENDPOINT", endpoint),
            ("BURROW_BLOBS__ACCESS_KEY_ID", ACCESS_KEY),
            ("BURROW_BLOBS__SECRET_ACCESS_KEY", SECRET_KEY),
            ("BURROW_BLOBS__ALLOW_HTTP", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Freezes the server (SIGSTOP): connections are accepted by the kernel and never
    /// answered, as when a storage service hangs.
    pub fn freeze(&self) {
        self.signal(rustix::process::Signal::STOP);
    }

    /// Lets a frozen server run again (SIGCONT).
    pub fn thaw(&self) {
        self.signal(rustix::process::Signal::CONT);
    }

    fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("a pid");
        rustix::process::kill_process(pid, signal).expect("signal SeaweedFS");
    }

    /// The server's own log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("weed.log")
    }

    /// Waits until a signed listing of the bucket succeeds: every component is up and
    /// the bucket exists. False if the server exited first.
    async fn wait_ready(&mut self) -> bool {
        use object_store::ObjectStore;
        let store = burrow_blobs::open(&burrow_config::Config {
            blobs: self.config(2, 1),
            ..Default::default()
        })
        .expect("an S3 client for SeaweedFS");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let listed = store.list_with_delimiter(None).await;
            match listed {
                Ok(_) => return true,
                Err(e) if Instant::now() > deadline => panic!(
                    "SeaweedFS did not serve its bucket within 60 s: {e:?}\n{}",
                    self.log()
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        // SIGKILL ends a frozen server as well.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server is killed when the thread that started it ends, so a test process that
/// dies (even of SIGKILL) leaves no server behind.
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    // SAFETY: the hook makes one async-signal-safe system call (prctl) in the child.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(command, || {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
                .map_err(std::io::Error::from)
        });
    }
}

/// `n` loopback ports `p` with `p + GRPC_OFFSET` free as well, all different.
fn free_port_pairs(n: usize) -> Vec<u16> {
    let mut held = Vec::new();
    let mut ports = Vec::new();
    while ports.len() < n {
        let Ok(listener) = TcpListener::bind("127.0.0.1:0") else {
            continue;
        };
        let port = listener.local_addr().unwrap().port();
        held.push(listener);
        let Some(grpc) = port.checked_add(GRPC_OFFSET) else {
            continue;
        };
        if let Ok(second) = TcpListener::bind(("127.0.0.1", grpc)) {
            held.push(second);
            ports.push(port);
        }
    }
    ports
}
