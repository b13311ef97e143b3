//! The Kubernetes runtime against a real cluster. No cluster can run on our machines, so
//! these tests are ignored unless asked for; they are the one suite allowed to be:
//!
//! ```sh
//! KUBECONFIG=~/.kube/config BURROW_TEST_IMAGE=registry.example/burrow:0.1.0 \
//! BURROW_TEST_NAMESPACE=burrow-sandboxes \
//!   cargo test -p burrow-kube --test live -- --ignored --test-threads 1
//! ```
//!
//! The namespace must exist, and the image be Burrow's (deploy/Dockerfile). What they
//! check that the fake API server cannot: that the cluster admits the restricted pod
//! (with Pod Security admission enforcing `restricted`), runs it, streams its log,
//! runs commands and terminals through `exec`, and fails a start on an image that does
//! not exist with the kubelet's words. The host services need Burrow's replica to reach
//! pod addresses, so `connect`, the agent and the shared folder it serves (capped at its
//! size) are checked only when the tests run inside the cluster (BURROW_TEST_IN_CLUSTER=1).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use burrow_kube::{KubeOptions, KubeRuntime, PodOptions};
use burrow_sandbox::{
    Cursor, ExecSpec, Runtime, SandboxError, SandboxSpec, Status, Volume, VolumeResolver,
};

#[derive(Debug)]
struct NoVolumes;

impl VolumeResolver for NoVolumes {
    fn folder(&self, volume: &Volume) -> Result<PathBuf, String> {
        Err(format!("{volume}: the live tests mount no volumes"))
    }
}

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set for the live tests"))
}

async fn runtime(image: &str) -> KubeRuntime {
    let options = KubeOptions {
        namespace: setting("BURROW_TEST_NAMESPACE"),
        pod: PodOptions {
            install: "burrow-live-tests".into(),
            image: image.into(),
            agent_image: setting("BURROW_TEST_IMAGE"),
            data_claim: "unused".into(),
            data_mount: "/var/lib/burrow".into(),
            volumes: Arc::new(NoVolumes),
            runtime_class: None,
            uid: 1000,
            agent_port: burrow_kube::pod::AGENT_PORT,
        },
        agent_secret: "burrow-live-tests-agent-secret".into(),
        start_timeout: Duration::from_secs(180),
        poll: Duration::from_millis(500),
    };
    KubeRuntime::from_environment(options)
        .await
        .expect("KUBECONFIG reaches a cluster")
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster: see the module's documentation"]
async fn a_sandbox_pod_runs_logs_execs_and_stops_on_a_real_cluster() {
    let runtime = runtime(&setting("BURROW_TEST_IMAGE")).await;
    let mut spec = SandboxSpec::new(vec![
        "python3".into(),
        "-c".into(),
        "import time; print('started', flush=True); time.sleep(600)".into(),
    ]);
    spec.host_services = vec![3128];
    spec.mounts = vec![burrow_sandbox::Mount {
        volume: Volume::Shared {
            size_bytes: 16 << 20,
        },
        destination: "/home/sandbox/work".into(),
        writable: true,
    }];
    let created = runtime.create(spec).await.unwrap();
    let id = created.id.clone();
    assert_eq!(runtime.status(&id).await.unwrap(), Status::Running);

    let mut log = Vec::new();
    for _ in 0..60 {
        let (chunks, _) = runtime.logs(&id, Cursor::default()).await.unwrap();
        log = chunks.into_iter().flat_map(|c| c.data).collect();
        if !log.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(String::from_utf8_lossy(&log), "started\n");

    let out = runtime
        .exec(
            &id,
            ExecSpec {
                command: vec![
                    "sh".into(),
                    "-c".into(),
                    "echo $GREETING; id -u; exit 3".into(),
                ],
                env: vec![("GREETING".into(), "hello".into())],
                cwd: Some("/tmp".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(out.code, 3);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n1000\n");

    if std::env::var("BURROW_TEST_IN_CLUSTER").is_ok() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let probe = "import socket; s=socket.create_connection(('127.0.0.1',3128)); s.sendall(b'ping'); print(s.recv(4).decode())";
        let exec = runtime.exec(
            &id,
            ExecSpec {
                command: vec!["python3".into(), "-c".into(), probe.into()],
                env: vec![],
                cwd: None,
            },
        );
        let serve = async {
            let mut c = created.listeners[0].1.accept().await.unwrap();
            let mut got = [0; 4];
            c.read_exact(&mut got).await.unwrap();
            c.write_all(b"pong").await.unwrap();
            got
        };
        let (out, got) = tokio::join!(exec, serve);
        assert_eq!(&got, b"ping");
        assert_eq!(String::from_utf8_lossy(&out.unwrap().stdout), "pong\n");

        // The shared folder, through the agent both ways, and capped at its size.
        let folder = runtime
            .shared_folder(&id, "/home/sandbox/work")
            .await
            .unwrap();
        folder
            .write("from-burrow.txt", Arc::new(b"hello".to_vec()))
            .await
            .unwrap();
        let sh = |script: &str| ExecSpec {
            command: vec!["sh".into(), "-c".into(), script.into()],
            env: vec![],
            cwd: Some("/home/sandbox/work".into()),
        };
        let out = runtime
            .exec(&id, sh("cat from-burrow.txt; echo made > mine.txt"))
            .await
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hello");
        let (_, mine) = folder.read("mine.txt", 100).await.unwrap().unwrap();
        assert_eq!(mine, b"made\n");
        let out = runtime
            .exec(&id, sh("head -c 32000000 /dev/zero > big"))
            .await
            .unwrap();
        assert_ne!(out.code, 0, "a write past the folder's size fails");
    }

    runtime.stop(&id, Duration::from_secs(5)).await.unwrap();
    runtime.remove(&id).await.unwrap();
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster: see the module's documentation"]
async fn an_image_that_does_not_exist_fails_the_start_with_the_kubelets_words() {
    let runtime = runtime("registry.invalid/burrow-no-such-image:0").await;
    let err = runtime
        .create(SandboxSpec::new(vec!["true".into()]))
        .await
        .unwrap_err();
    let SandboxError::StartFailed(why) = &err else {
        panic!("{err}")
    };
    assert!(
        why.contains("ErrImagePull") || why.contains("ImagePullBackOff"),
        "{why}"
    );
    let left = runtime.list(&Default::default()).await.unwrap();
    assert!(left.iter().all(|s| s.status != Status::Running), "{left:?}");
}
