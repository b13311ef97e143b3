//! The Kubernetes runtime against a fake API server that answers as Kubernetes does and
//! records every request, which each test checks; and the host services through a real
//! agent, reached at the address the fake gives the pod.
//!
//! No API server can run on our machines: what these tests cannot show (scheduling, image
//! pulls, admission, network policies, `exec` over a real connection) is listed in
//! `deploy/kubernetes/README.md`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use burrow_kube::pod::{self, PodOptions};
use burrow_kube::restricted::violations;
use burrow_kube::{KubeOptions, KubeRuntime};
use burrow_sandbox::{
    Cursor, ExitReason, Runtime, SandboxError, SandboxSpec, Status, Volume, VolumeResolver,
    LEASE_LABEL,
};
use burrow_testkit::free_port;
use http::{Request, Response};
use kube::client::Body;
use kube::Client;
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NS: &str = "burrow-sandboxes";
const PODS: &str = "/api/v1/namespaces/burrow-sandboxes/pods";
const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/burrow-sandboxes/leases";

#[derive(Debug)]
struct NoVolumes;

impl VolumeResolver for NoVolumes {
    fn folder(&self, volume: &Volume) -> Result<PathBuf, String> {
        Err(format!("{volume} is not here"))
    }
}

type Kubelet = Box<dyn FnMut(&mut Value) + Send>;

/// The API server's state, and every request it was sent.
#[derive(Default)]
struct Fake {
    pods: BTreeMap<String, Value>,
    leases: BTreeMap<String, Value>,
    /// Pods being deleted: shown once more as ended, then gone.
    deleting: BTreeMap<String, i32>,
    events: Vec<Value>,
    log: Vec<u8>,
    /// The body of the answer being made, when it is not JSON (a log).
    raw: Option<Vec<u8>>,
    /// Answer the next create with 409, as when an earlier try already made the pod;
    /// `Some(labels)` makes it with those labels.
    conflict: Option<Value>,
    /// What the kubelet does to a pod each time it is read.
    kubelet: Option<Kubelet>,
    /// Looks at each pod as it is created.
    on_create: Option<Kubelet>,
    requests: Vec<String>,
}

fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
               "code": code, "reason": reason, "message": message}),
    )
}

fn selected(object: &Value, selector: &str) -> bool {
    selector.split(',').all(|pair| {
        let (k, v) = pair.split_once('=').unwrap();
        object["metadata"]["labels"][k] == v
    })
}

fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| url_decode(v))
    })
}

fn url_decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() + 1 {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

impl Fake {
    fn handle(&mut self, method: &str, path: &str, query: &str, body: &[u8]) -> (u16, Value) {
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let mut request = if query.is_empty() {
            format!("{method} {path}")
        } else {
            format!("{method} {path}?{query}")
        };
        if method == "DELETE" {
            request.push_str(&format!(" grace={}", body["gracePeriodSeconds"]));
        }
        self.requests.push(request);
        if let Some(rest) = path.strip_prefix(PODS) {
            let name = rest.trim_start_matches('/');
            return match (method, name) {
                ("POST", "") => {
                    let mut pod = body;
                    if let Some(look) = self.on_create.as_mut() {
                        look(&mut pod);
                    }
                    let name = pod["metadata"]["name"].as_str().unwrap().to_owned();
                    pod["metadata"]["creationTimestamp"] = "2026-12-04T10:00:00Z".into();
                    if let Some(labels) = self.conflict.take() {
                        if !labels.is_null() {
                            pod["metadata"]["labels"] = labels;
                        }
                        self.pods.insert(name.clone(), pod);
                        return status(
                            409,
                            "AlreadyExists",
                            &format!("pods \"{name}\" already exists"),
                        );
                    }
                    self.pods.insert(name, pod.clone());
                    (201, pod)
                }
                ("GET", "") => {
                    let selector = query_value(query, "labelSelector").unwrap_or_default();
                    let items: Vec<Value> = self
                        .pods
                        .values()
                        .filter(|p| selected(p, &selector))
                        .cloned()
                        .collect();
                    (
                        200,
                        json!({"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}),
                    )
                }
                ("GET", name) if name.ends_with("/log") => {
                    self.raw = Some(self.log.clone());
                    (200, Value::Null)
                }
                ("PATCH", name) => {
                    let Some(pod) = self.pods.get_mut(name) else {
                        return status(404, "NotFound", &format!("pods \"{name}\" not found"));
                    };
                    for (k, v) in body["metadata"]["annotations"]
                        .as_object()
                        .into_iter()
                        .flatten()
                    {
                        pod["metadata"]["annotations"][k] = v.clone();
                    }
                    if let Some(deadline) = body["spec"]["activeDeadlineSeconds"].as_i64() {
                        pod["spec"]["activeDeadlineSeconds"] = deadline.into();
                        // Past its deadline, the kubelet ends the pod: SIGTERM, and the
                        // container's state says only that it was signalled.
                        pod["status"] = json!({"phase": "Failed", "reason": "DeadlineExceeded",
                            "message": "Pod was active on the node longer than the specified deadline",
                            "containerStatuses": [{"name": "sandbox", "ready": false,
                            "restartCount": 0, "image": "i", "imageID": "",
                            "state": {"terminated": {"exitCode": 143, "reason": "Error"}}}]});
                    }
                    (200, pod.clone())
                }
                ("GET", name) => {
                    if let Some(code) = self.deleting.get(name).copied() {
                        if code < 0 {
                            self.deleting.remove(name);
                            self.pods.remove(name);
                            return status(404, "NotFound", &format!("pods \"{name}\" not found"));
                        }
                        self.deleting.insert(name.to_owned(), -1);
                    }
                    let Some(pod) = self.pods.get_mut(name) else {
                        return status(404, "NotFound", &format!("pods \"{name}\" not found"));
                    };
                    if let Some(kubelet) = self.kubelet.as_mut() {
                        kubelet(pod);
                    }
                    (200, pod.clone())
                }
                ("DELETE", name) => {
                    let Some(pod) = self.pods.get_mut(name) else {
                        return status(404, "NotFound", &format!("pods \"{name}\" not found"));
                    };
                    let grace = query_value(query, "gracePeriodSeconds")
                        .map(|g| g.parse::<i32>().unwrap())
                        .or_else(|| body["gracePeriodSeconds"].as_i64().map(|g| g as i32))
                        .unwrap_or(30);
                    // SIGTERM ends a well-behaved process (143); no grace is SIGKILL (137).
                    let code = if grace == 0 { 137 } else { 143 };
                    pod["metadata"]["deletionTimestamp"] = "2026-12-04T10:00:05Z".into();
                    pod["status"]["containerStatuses"] = json!([{"name": "sandbox", "ready": false,
                        "restartCount": 0, "image": "i", "imageID": "",
                        "state": {"terminated": {"exitCode": code, "reason": "Error"}}}]);
                    self.deleting.insert(name.to_owned(), code);
                    (200, pod.clone())
                }
                _ => status(405, "MethodNotAllowed", "the fake does not serve this"),
            };
        }
        if path == "/api/v1/namespaces/burrow-sandboxes/events" {
            let field = query_value(query, "fieldSelector").unwrap_or_default();
            let items: Vec<Value> = self
                .events
                .iter()
                // An event about "*" is about whichever pod is asked after.
                .filter(|e| {
                    let about = e["involvedObject"]["name"].as_str().unwrap();
                    about == "*" || field.contains(&format!("involvedObject.name={about}"))
                })
                .cloned()
                .collect();
            return (
                200,
                json!({"kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": items}),
            );
        }
        if let Some(rest) = path.strip_prefix(LEASES) {
            let name = rest.trim_start_matches('/');
            return match (method, name) {
                ("GET", "") => {
                    let selector = query_value(query, "labelSelector").unwrap_or_default();
                    let items: Vec<Value> = self
                        .leases
                        .values()
                        .filter(|l| selected(l, &selector))
                        .cloned()
                        .collect();
                    (
                        200,
                        json!({"kind": "LeaseList", "apiVersion": "coordination.k8s.io/v1", "metadata": {}, "items": items}),
                    )
                }
                ("POST", "") => {
                    let name = body["metadata"]["name"].as_str().unwrap().to_owned();
                    self.leases.insert(name, body.clone());
                    (201, body)
                }
                ("GET", name) => match self.leases.get(name) {
                    Some(lease) => (200, lease.clone()),
                    None => status(404, "NotFound", &format!("leases \"{name}\" not found")),
                },
                ("DELETE", name) => match self.leases.remove(name) {
                    Some(_) => (
                        200,
                        json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
                    ),
                    None => status(404, "NotFound", "gone"),
                },
                _ => status(405, "MethodNotAllowed", "the fake does not serve this"),
            };
        }
        status(404, "NotFound", &format!("the fake does not know {path}"))
    }

    /// The requests made since the last call, and forgets them.
    fn take(&mut self) -> Vec<String> {
        std::mem::take(&mut self.requests)
    }
}

fn serve(fake: Arc<Mutex<Fake>>) -> Client {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let body = body.collect_bytes().await.unwrap();
            let mut fake = fake.lock();
            let (code, answer) = fake.handle(
                parts.method.as_str(),
                parts.uri.path(),
                parts.uri.query().unwrap_or_default(),
                &body,
            );
            let bytes = fake
                .raw
                .take()
                .unwrap_or_else(|| serde_json::to_vec(&answer).unwrap());
            drop(fake);
            send.send_response(
                Response::builder()
                    .status(code)
                    .body(Body::from(bytes))
                    .unwrap(),
            );
        }
    });
    Client::new(service, NS)
}

fn options(agent_port: u16) -> KubeOptions {
    KubeOptions {
        namespace: NS.into(),
        pod: PodOptions {
            install: "test-install".into(),
            image: "registry.example/burrow-sandbox:1".into(),
            agent_image: "registry.example/burrow:1".into(),
            data_claim: "burrow-data".into(),
            data_mount: "/var/lib/burrow".into(),
            volumes: Arc::new(NoVolumes),
            runtime_class: None,
            uid: 1000,
            agent_port,
        },
        agent_secret: "a-secret-every-replica-shares".into(),
        start_timeout: Duration::from_secs(5),
        poll: Duration::from_millis(1),
    }
}

fn runtime(fake: &Arc<Mutex<Fake>>, agent_port: u16) -> KubeRuntime {
    KubeRuntime::new(serve(Arc::clone(fake)), options(agent_port))
}

/// A kubelet that shows the pod pending once, then running at 127.0.0.1.
fn starts_on_loopback() -> Kubelet {
    let mut reads = 0;
    Box::new(move |pod| {
        reads += 1;
        pod["status"] = if reads == 1 {
            json!({"phase": "Pending", "containerStatuses": [{"name": "sandbox", "ready": false,
                "restartCount": 0, "image": "i", "imageID": "",
                "state": {"waiting": {"reason": "ContainerCreating"}}}]})
        } else if pod["status"]["containerStatuses"][0]["state"]["terminated"].is_object() {
            pod["status"].clone()
        } else {
            json!({"phase": "Running", "podIP": "127.0.0.1", "containerStatuses": [{"name": "sandbox",
                "ready": true, "restartCount": 0, "image": "i", "imageID": "",
                "state": {"running": {"startedAt": "2026-12-04T10:00:01Z"}}}]})
        };
    })
}

fn spec_with_services(ports: Vec<u16>) -> SandboxSpec {
    let mut spec = SandboxSpec::new(vec!["python".into(), "app.py".into()]);
    spec.host_services = ports;
    spec.labels = BTreeMap::from([("burrow.app".to_owned(), "app-1".to_owned())]);
    spec
}

#[tokio::test]
async fn a_pod_is_made_reached_and_served_its_host_services_through_the_agent() {
    let fake = Arc::new(Mutex::new(Fake {
        kubelet: Some(starts_on_loopback()),
        ..Default::default()
    }));
    let agent_port = free_port();
    let runtime = runtime(&fake, agent_port);
    let (proxy, bridge) = (free_port(), free_port());

    let created = runtime
        .create(spec_with_services(vec![proxy, bridge]))
        .await
        .unwrap();
    let id = created.id.clone();
    let requests = fake.lock().take();
    assert_eq!(
        requests,
        vec![
            format!("POST {PODS}?"),
            format!("GET {PODS}/{id}"),
            format!("GET {PODS}/{id}")
        ]
        .into_iter()
        .map(|r| r.trim_end_matches('?').to_owned())
        .collect::<Vec<_>>(),
    );
    // What was asked for is the restricted pod, with the agent for both services.
    let made: k8s_openapi::api::core::v1::Pod =
        serde_json::from_value(fake.lock().pods[&id].clone()).unwrap();
    assert_eq!(
        violations(made.spec.as_ref().unwrap(), true),
        Vec::<String>::new()
    );
    assert_eq!(
        made.metadata.labels.as_ref().unwrap()[pod::SANDBOX_LABEL],
        id
    );
    let token_env = &made
        .spec
        .as_ref()
        .unwrap()
        .init_containers
        .as_ref()
        .unwrap()[0]
        .env
        .as_ref()
        .unwrap()[0];
    assert_eq!(
        token_env.value.as_deref(),
        Some(runtime.agent_token(&id).as_str())
    );
    assert_eq!(
        created
            .listeners
            .iter()
            .map(|(p, _)| *p)
            .collect::<Vec<_>>(),
        vec![proxy, bridge]
    );

    // The pod's agent: the real one, listening where the fake says the pod is.
    let token = runtime.agent_token(&id);
    let agent = tokio::spawn(burrow_kube::agent::run(
        SocketAddr::from(([127, 0, 0, 1], agent_port)),
        vec![proxy, bridge],
        token,
        None,
    ));
    // The sandbox connects to a host service on its loopback; Burrow's listener is
    // handed the connection, and bytes go both ways.
    for (i, (port, listener)) in created.listeners.iter().enumerate() {
        let mut inside = loop {
            match tokio::net::TcpStream::connect(("127.0.0.1", *port)).await {
                Ok(s) => break s,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        inside
            .write_all(format!("hello {i}").as_bytes())
            .await
            .unwrap();
        let mut served = tokio::time::timeout(Duration::from_secs(10), listener.accept())
            .await
            .expect("the connection reached Burrow")
            .unwrap();
        let mut got = vec![0; 7];
        served.read_exact(&mut got).await.unwrap();
        assert_eq!(got, format!("hello {i}").as_bytes());
        served.write_all(b"welcome").await.unwrap();
        let mut back = vec![0; 7];
        inside.read_exact(&mut back).await.unwrap();
        assert_eq!(back, b"welcome");
    }

    // Burrow reaches the app's port at the pod's address.
    let app = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_port = app.local_addr().unwrap().port();
    let mut to_app = runtime.connect(&id, app_port).await.unwrap();
    let (mut accepted, _) = app.accept().await.unwrap();
    to_app.write_all(b"GET /").await.unwrap();
    let mut got = [0; 5];
    accepted.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"GET /");
    agent.abort();
}

#[tokio::test]
async fn a_retried_create_adopts_its_own_pod_and_never_one_it_did_not_make() {
    let fake = Arc::new(Mutex::new(Fake {
        kubelet: Some(starts_on_loopback()),
        conflict: Some(Value::Null),
        ..Default::default()
    }));
    let runtime = runtime(&fake, free_port());
    let created = runtime.create(spec_with_services(vec![])).await.unwrap();
    assert_eq!(fake.lock().pods.len(), 1, "one pod, adopted");
    let requests = fake.lock().take();
    assert_eq!(requests.iter().filter(|r| r.starts_with("POST")).count(), 1);
    assert_eq!(
        requests.last().unwrap(),
        &format!("GET {PODS}/{}", created.id)
    );

    // A pod of that name with another installation's labels is not taken.
    fake.lock().conflict = Some(json!({"burrow.dev/install": "someone-else"}));
    let err = runtime
        .create(spec_with_services(vec![]))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("that Burrow did not make"),
        "{err}"
    );
}

#[tokio::test]
async fn a_pod_that_cannot_start_fails_at_once_with_kubernetes_own_words_and_is_deleted() {
    // An image that cannot be pulled.
    let fake = Arc::new(Mutex::new(Fake {
        kubelet: Some(Box::new(|pod| {
            pod["status"] = json!({"phase": "Pending", "containerStatuses": [{"name": "sandbox",
                "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                "state": {"waiting": {"reason": "ImagePullBackOff",
                          "message": "Back-off pulling image \"registry.example/burrow-sandbox:1\""}}}]});
        })),
        ..Default::default()
    }));
    fake.lock().events = vec![
        json!({"metadata": {"name": "e1", "creationTimestamp": "2026-12-04T10:00:02Z"},
        "involvedObject": {"name": "*"}, "type": "Warning", "reason": "Failed",
        "message": "Failed to pull image \"registry.example/burrow-sandbox:1\": not found"}),
    ];
    let runtime = runtime(&fake, free_port());
    let err = runtime
        .create(spec_with_services(vec![]))
        .await
        .unwrap_err();
    let SandboxError::StartFailed(why) = &err else {
        panic!("{err}")
    };
    assert!(
        why.contains("the sandbox container cannot start: ImagePullBackOff"),
        "{why}"
    );
    assert!(why.contains("Back-off pulling image"), "{why}");
    assert!(
        why.contains("(Failed: Failed to pull image"),
        "the event's text: {why}"
    );
    let requests = fake.lock().take();
    assert_eq!(requests.len(), 4, "{requests:?}");
    assert!(requests[0].starts_with(&format!("POST {PODS}")));
    assert!(
        requests[2].contains("fieldSelector=involvedObject.name%3Dsb-"),
        "{requests:?}"
    );
    assert!(requests[2].contains("type%3DWarning"), "{requests:?}");
    assert!(
        requests[3].starts_with(&format!("DELETE {PODS}/sb-")),
        "{requests:?}"
    );
    assert!(
        requests[3].ends_with(" grace=1"),
        "deleted, never forced: {requests:?}"
    );

    // Nowhere to schedule it. Not hopeless at once: a cluster that adds nodes adds one
    // for such a pod. The start waits its timeout, then says why.
    let fake = Arc::new(Mutex::new(Fake {
        kubelet: Some(Box::new(|pod| {
            pod["status"] = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled",
                "status": "False", "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient memory."}]});
        })),
        ..Default::default()
    }));
    let mut options = options(free_port());
    options.start_timeout = Duration::from_millis(300);
    let runtime = KubeRuntime::new(serve(Arc::clone(&fake)), options);
    let err = runtime
        .create(spec_with_services(vec![]))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "did not start within 300ms: no node can run the pod: 0/3 nodes are available: 3 Insufficient memory."
        ),
        "{err}"
    );
    let requests = fake.lock().take();
    let reads = requests.iter().filter(|r| r.starts_with("GET")).count();
    assert!(reads > 3, "it waited, reading the pod again: {requests:?}");
    assert!(
        requests
            .last()
            .unwrap()
            .starts_with(&format!("DELETE {PODS}/sb-")),
        "{requests:?}"
    );
}

fn pod_json(id: &str, labels: &[(&str, &str)], install: &str, state: Value) -> Value {
    let mut spec = SandboxSpec::new(vec!["sleep".into(), "1000".into()]);
    spec.labels = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut options = options(7390).pod;
    options.install = install.into();
    let mut pod = serde_json::to_value(pod::pod_for(id, &spec, &options, "t").unwrap()).unwrap();
    pod["metadata"]["creationTimestamp"] = "2026-12-04T10:00:00Z".into();
    pod["status"] = state;
    pod
}

fn running() -> Value {
    json!({"phase": "Running", "podIP": "10.0.0.9", "containerStatuses": [{"name": "sandbox",
        "ready": true, "restartCount": 0, "image": "i", "imageID": "",
        "state": {"running": {}}}]})
}

#[tokio::test]
async fn status_logs_list_stop_and_gc_read_and_change_only_this_installations_pods() {
    let fake = Arc::new(Mutex::new(Fake::default()));
    let runtime = runtime(&fake, 7390);
    let lease = runtime.lease().await.unwrap();
    {
        let mut f = fake.lock();
        let mut add = |id: &str, labels: &[(&str, &str)], install: &str, state: Value| {
            f.pods
                .insert(id.into(), pod_json(id, labels, install, state));
        };
        add(
            "sb-running",
            &[("burrow.app", "a")],
            "test-install",
            running(),
        );
        add(
            "sb-oom",
            &[("burrow.app", "a")],
            "test-install",
            json!({"phase": "Failed",
            "containerStatuses": [{"name": "sandbox", "ready": false, "restartCount": 0, "image": "i",
            "imageID": "", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}),
        );
        add(
            "sb-late",
            &[("burrow.app", "b")],
            "test-install",
            // As the kubelet leaves it: the container's state says only "signalled".
            json!({"phase": "Failed", "reason": "DeadlineExceeded", "message": "Pod was active too long",
                "containerStatuses": [{"name": "sandbox", "ready": false, "restartCount": 0,
                "image": "i", "imageID": "",
                "state": {"terminated": {"exitCode": 137, "reason": "Error"}}}]}),
        );
        add(
            "sb-orphan",
            &[(LEASE_LABEL, "burrow-lease-gone")],
            "test-install",
            running(),
        );
        add(
            "sb-held",
            &[(LEASE_LABEL, lease.id())],
            "test-install",
            running(),
        );
        add(
            "sb-theirs",
            &[("burrow.app", "a")],
            "another-install",
            json!({"phase": "Succeeded"}),
        );
        f.take();
    }

    let Status::Exited(oom) = runtime.status("sb-oom").await.unwrap() else {
        panic!()
    };
    assert_eq!(oom.reason, ExitReason::Oom);
    let Status::Exited(late) = runtime.status("sb-late").await.unwrap() else {
        panic!()
    };
    assert_eq!(late.reason, ExitReason::Timeout);
    assert_eq!(runtime.status("sb-running").await.unwrap(), Status::Running);
    assert!(matches!(
        runtime.status("sb-nothing").await,
        Err(SandboxError::NotFound(_))
    ));

    let of_a = runtime
        .list(&BTreeMap::from([("burrow.app".to_owned(), "a".to_owned())]))
        .await
        .unwrap();
    let ids: Vec<&str> = of_a.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, vec!["sb-oom", "sb-running"]);
    assert_eq!(of_a[1].command, vec!["sleep", "1000"]);
    let requests = fake.lock().take();
    assert!(
        requests
            .last()
            .unwrap()
            .contains("labelSelector=burrow.dev%2Finstall%3Dtest-install%2Cburrow.app%3Da"),
        "{requests:?}"
    );

    // Logs continue from their cursor.
    fake.lock().log = "one\n".into();
    let (chunks, cursor) = runtime.logs("sb-running", Cursor::default()).await.unwrap();
    assert_eq!(chunks[0].data, b"one\n");
    // Output need not be text.
    fake.lock().log = b"one\ntwo \xff\xfe\n".to_vec();
    let (chunks, cursor) = runtime.logs("sb-running", cursor).await.unwrap();
    assert_eq!(chunks[0].data, b"two \xff\xfe\n");
    assert!(runtime
        .logs("sb-running", cursor)
        .await
        .unwrap()
        .0
        .is_empty());

    // Stop: the pod's deadline is brought to now, so the kubelet ends it and the pod
    // stays, its status and log readable, until it is removed.
    fake.lock().take();
    let exit = runtime
        .stop("sb-running", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!((exit.reason, exit.signal), (ExitReason::Signal, Some(15)));
    let requests = fake.lock().take();
    assert_eq!(requests[1], format!("PATCH {PODS}/sb-running"));
    let pod = fake.lock().pods["sb-running"].clone();
    assert_eq!(pod["spec"]["activeDeadlineSeconds"], 1);
    assert_eq!(
        pod["metadata"]["annotations"][burrow_kube::STOPPED_ANNOTATION],
        "15"
    );
    let Status::Exited(after) = runtime.status("sb-running").await.unwrap() else {
        panic!()
    };
    assert_eq!(after.signal, Some(15), "a stop, not a timeout: {after:?}");
    assert_eq!(runtime.wait("sb-running").await.unwrap().signal, Some(15));
    assert!(!runtime
        .logs("sb-running", Cursor::default())
        .await
        .unwrap()
        .0
        .is_empty());
    // Waiting on a pod that never was is an error, not an exit.
    assert!(matches!(
        runtime.wait("sb-never").await,
        Err(SandboxError::NotFound(_))
    ));

    // gc: ended pods go, a pod whose lease is gone is reaped, a held one stays, another
    // installation's are never looked at.
    // A lease whose holder died an hour ago without deleting it, and another
    // installation's.
    for (name, install) in [
        ("burrow-lease-dead", "test-install"),
        ("burrow-lease-theirs", "another-install"),
    ] {
        fake.lock().leases.insert(
            name.into(),
            json!({"metadata": {"name": name, "labels": {"burrow.dev/install": install}},
                   "spec": {"holderIdentity": name, "leaseDurationSeconds": 30,
                            "renewTime": "2026-12-04T09:00:00.000000Z"}}),
        );
    }
    fake.lock().take();
    let report = runtime.gc().await.unwrap();
    let leases: Vec<String> = fake.lock().leases.keys().cloned().collect();
    assert!(
        !leases.contains(&"burrow-lease-dead".to_owned()),
        "{leases:?}"
    );
    assert!(
        leases.contains(&"burrow-lease-theirs".to_owned()),
        "{leases:?}"
    );
    assert!(
        leases.contains(&lease.id().to_owned()),
        "a renewed lease stays: {leases:?}"
    );
    assert_eq!(report.removed, vec!["sb-late", "sb-oom", "sb-running"]);
    assert_eq!(report.reaped, vec!["sb-orphan"]);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let left: Vec<String> = fake.lock().pods.keys().cloned().collect();
    assert!(
        left.contains(&"sb-held".to_owned()) && left.contains(&"sb-theirs".to_owned()),
        "{left:?}"
    );
    let requests = fake.lock().take();
    assert!(
        !requests.iter().any(|r| r.contains("sb-theirs")),
        "{requests:?}"
    );
    assert!(!requests
        .iter()
        .any(|r| r.starts_with("DELETE") && r.contains("sb-held")));

    // A dropped lease is deleted, and its sandboxes are reaped by the next gc.
    let name = lease.id().to_owned();
    drop(lease);
    for _ in 0..100 {
        if !fake.lock().leases.contains_key(&name) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !fake.lock().leases.contains_key(&name),
        "the lease was deleted"
    );
    assert_eq!(runtime.gc().await.unwrap().reaped, vec!["sb-held"]);
}

#[tokio::test]
async fn a_shared_folder_is_capped_in_memory_and_reached_through_the_pods_agent() {
    let agent_port = free_port();
    let fake = Arc::new(Mutex::new(Fake {
        kubelet: Some(starts_on_loopback()),
        ..Default::default()
    }));
    let runtime = runtime(&fake, agent_port);
    let mut spec = spec_with_services(vec![]);
    spec.mounts = vec![
        burrow_sandbox::Mount {
            volume: Volume::Scratch {
                size_bytes: 16 << 20,
            },
            destination: "/home/sandbox/.cache".into(),
            writable: true,
        },
        burrow_sandbox::Mount {
            volume: Volume::Shared {
                size_bytes: 16 << 20,
            },
            destination: "/home/sandbox/work".into(),
            writable: true,
        },
    ];
    let id = runtime.create(spec).await.unwrap().id;

    // A memory folder with the size asked for, which the sandbox and the agent mount;
    // the agent's memory grows by that size, as what it writes there is its own.
    let made: k8s_openapi::api::core::v1::Pod =
        serde_json::from_value(fake.lock().pods[&id].clone()).unwrap();
    let pod_spec = made.spec.unwrap();
    let volume = pod_spec
        .volumes
        .iter()
        .flatten()
        .find(|v| v.name == "m1")
        .unwrap();
    let empty_dir = volume.empty_dir.as_ref().expect("an emptyDir");
    assert_eq!(empty_dir.medium.as_deref(), Some("Memory"));
    assert_eq!(
        empty_dir.size_limit.as_ref().map(|q| q.0.as_str()),
        Some((16u64 << 20).to_string().as_str())
    );
    let mounts = |c: &k8s_openapi::api::core::v1::Container| {
        c.volume_mounts
            .iter()
            .flatten()
            .map(|m| (m.name.clone(), m.mount_path.clone()))
            .collect::<Vec<_>>()
    };
    assert!(mounts(&pod_spec.containers[0]).contains(&("m1".into(), "/home/sandbox/work".into())));
    let agent = &pod_spec.init_containers.as_ref().unwrap()[0];
    assert_eq!(
        mounts(agent),
        vec![("m1".to_owned(), "/burrow/shared/m1".to_owned())]
    );
    let command = agent.command.clone().unwrap();
    assert!(
        command.ends_with(&["--shared".into(), "/burrow/shared".into()]),
        "{command:?}"
    );
    assert!(!command.contains(&"--ports".to_owned()), "{command:?}");
    assert_eq!(
        agent.resources.as_ref().unwrap().limits.as_ref().unwrap()["memory"].0,
        ((32u64 << 20) + (16 << 20)).to_string()
    );

    // The real agent, where the fake says the pod is, with its mount of the folder.
    let mounted = tempfile::tempdir().unwrap();
    let work = mounted.path().join("m1");
    std::fs::create_dir(&work).unwrap();
    let serving = tokio::spawn(burrow_kube::agent::run(
        SocketAddr::from(([127, 0, 0, 1], agent_port)),
        vec![],
        runtime.agent_token(&id),
        Some(mounted.path().to_owned()),
    ));
    let folder = loop {
        let folder = runtime
            .shared_folder(&id, "/home/sandbox/work")
            .await
            .unwrap();
        if folder.scan(10).await.is_ok() {
            break folder;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    // Burrow writes, the sandbox sees; a file larger than a chunk goes whole.
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    folder
        .write("pkg/big.bin", Arc::new(big.clone()))
        .await
        .unwrap();
    assert_eq!(std::fs::read(work.join("pkg/big.bin")).unwrap(), big);
    let stamp = folder
        .write("notes.py", Arc::new(b"print(1)".to_vec()))
        .await
        .unwrap();
    let (read_stamp, content) = folder.read("notes.py", 100).await.unwrap().unwrap();
    assert_eq!((read_stamp, content.as_slice()), (stamp, &b"print(1)"[..]));
    let (_, content) = folder.read("pkg/big.bin", 1 << 20).await.unwrap().unwrap();
    assert_eq!(content, big);

    // What the sandbox made is the sandbox's: links are not followed, FIFOs not opened,
    // files over the limit not read, and paths stay beneath the folder.
    std::os::unix::fs::symlink("/etc/passwd", work.join("passwd")).unwrap();
    make_fifo(&work.join("pipe"));
    assert!(folder.read("passwd", 1 << 20).await.unwrap().is_none());
    assert!(folder.read("pipe", 1 << 20).await.unwrap().is_none());
    let err = folder.read("pkg/big.bin", 1000).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::FileTooLarge, "{err}");
    let err = folder
        .write("../outside.py", Arc::new(b"x".to_vec()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    assert!(!mounted.path().join("outside.py").exists());
    assert!(folder
        .write("passwd/x", Arc::new(b"x".to_vec()))
        .await
        .is_err());
    let scan = folder.scan(100).await.unwrap();
    assert!(scan.complete);
    let skipped: Vec<_> = scan
        .found
        .iter()
        .filter_map(|f| match f {
            burrow_sandbox::folder::Found::Skipped { path, .. } => Some(path.as_str()),
            burrow_sandbox::folder::Found::File { .. } => None,
        })
        .collect();
    assert_eq!(skipped, vec!["passwd", "pipe"]);
    assert_eq!(scan.found.len(), 4, "{scan:?}");

    // Renames and removals, over the same connection after the refusals above.
    folder.rename("pkg", "lib/pkg").await.unwrap();
    assert!(work.join("lib/pkg/big.bin").exists());
    folder.remove("lib").await.unwrap();
    assert!(!work.join("lib").exists());
    assert!(std::path::Path::new("/etc/passwd").exists());

    // Nothing else of the pod is shared, and a mount changed to point elsewhere is not
    // followed.
    let err = runtime.shared_folder(&id, "/tmp").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("has no folder shared with Burrow at /tmp"),
        "{err}"
    );
    fake.lock().pods.get_mut(&id).unwrap()["spec"]["initContainers"][0]["volumeMounts"][0]
        ["mountPath"] = "/elsewhere".into();
    let another_replica = KubeRuntime::new(serve(Arc::clone(&fake)), options(agent_port));
    let err = another_replica
        .shared_folder(&id, "/home/sandbox/work")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("has no folder shared"), "{err}");
    serving.abort();

    // An agent that does not know this sandbox's token is not asked.
    let impostor_port = free_port();
    let impostor = tokio::spawn(burrow_kube::agent::run(
        SocketAddr::from(([127, 0, 0, 1], impostor_port)),
        vec![],
        "another-sandbox-token-0123456789".into(),
        Some(mounted.path().to_owned()),
    ));
    let other = burrow_kube::files::AgentFolder::new(
        SocketAddr::from(([127, 0, 0, 1], impostor_port)),
        runtime.agent_token(&id),
        1,
    );
    let err = loop {
        match burrow_sandbox::SharedFolder::scan(&other, 10).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            other => break other.unwrap_err(),
        }
    };
    assert!(
        err.to_string()
            .contains("does not know this sandbox's token"),
        "{err}"
    );
    impostor.abort();
}

/// Makes a FIFO at `path`.
fn make_fifo(path: &std::path::Path) {
    use rustix::fs::{FileType, Mode, CWD};
    rustix::fs::mknodat(CWD, path, FileType::Fifo, Mode::from_raw_mode(0o644), 0).unwrap();
}
