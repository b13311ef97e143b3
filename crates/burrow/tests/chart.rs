//! The Helm chart (`deploy/helm/burrow`), rendered offline: valid for Kubernetes' schema,
//! Burrow's own pods confined as the restricted profile requires, the sandbox namespace
//! enforcing it, the network policy selecting exactly the pods the runtime makes, the
//! Role granting what the runtime calls and no more, and every setting it gives `burrow
//! serve` accepted by the binary itself.

// The last test starts the real binary with the chart's settings.
#![allow(clippy::disallowed_methods)]

use std::path::PathBuf;

use burrow_kube::pod::{INSTALL_LABEL, ROLE_LABEL};
use burrow_kube::restricted::violations;
use burrow_testkit::chart::{kubernetes_validate, render, Release};
use serde_json::{json, Value};

fn chart() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/helm/burrow")
}

fn release() -> Release {
    Release {
        name: "burrow".into(),
        namespace: "burrow".into(),
        values: json!({
            "image": {"repository": "registry.example/burrow", "tag": "0.1.0"},
            "publicUrl": "https://burrow.example.com",
            "appsUrl": "https://{app}.apps.example.com",
            "blobs": {"bucket": "burrow", "endpoint": "https://s3.example.com"},
        }),
    }
}

fn find<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

#[test]
fn the_chart_renders_to_objects_kubernetes_accepts() {
    let docs = render(&chart(), &release()).unwrap();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    for kind in [
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "PersistentVolumeClaim",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "NetworkPolicy",
    ] {
        assert!(kinds.contains(&kind), "no {kind} in {kinds:?}");
    }
    kubernetes_validate(&docs, "1.33").unwrap();

    // The check can fail: limits that are not a map are refused.
    let mut broken = release();
    broken.values["resources"] = json!({"limits": "lots"});
    let docs = render(&chart(), &broken).unwrap();
    assert!(
        kubernetes_validate(&docs, "1.33").is_err(),
        "a broken chart passed"
    );
}

#[test]
fn numbers_render_as_numbers_however_large_and_the_claim_is_where_the_pods_are() {
    // Helm reads values as floats; printed without `int64`, 1000000 would be `1e+06`.
    let mut big = release();
    big.values["sandboxes"] = json!({"uid": 1000000});
    let docs = render(&chart(), &big).unwrap();
    let deployment = find(&docs, "Deployment")[0];
    assert_eq!(
        deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"],
        1000000
    );
    kubernetes_validate(&docs, "1.33").unwrap();

    // Sandbox pods mount the data claim, which a namespace's pods see only in their own.
    let docs = render(&chart(), &release()).unwrap();
    let claim = find(&docs, "PersistentVolumeClaim")[0];
    let role = find(&docs, "Role")[0];
    assert_eq!(
        claim["metadata"]["namespace"],
        role["metadata"]["namespace"]
    );
    // Pods elsewhere need a claim of their own there, which the chart asks for.
    let mut apart = release();
    apart.values["sandboxes"] = json!({"namespace": "burrow-sandboxes"});
    let err = render(&chart(), &apart).unwrap_err();
    assert!(
        err.contains("create a claim of the same name there"),
        "{err}"
    );
    apart.values["sandboxes"]["claimExists"] = json!(true);
    let docs = render(&chart(), &apart).unwrap();
    let namespace = find(&docs, "Namespace")[0];
    assert_eq!(namespace["metadata"]["name"], "burrow-sandboxes");
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    assert_eq!(
        find(&docs, "Role")[0]["metadata"]["namespace"],
        "burrow-sandboxes"
    );
    kubernetes_validate(&docs, "1.33").unwrap();
}

#[test]
fn what_must_be_given_is_named_when_it_is_not() {
    let mut bare = release();
    bare.values = json!({});
    let err = render(&chart(), &bare).unwrap_err();
    assert!(err.contains("image.repository is required"), "{err}");
    let mut no_url = release();
    no_url.values["publicUrl"] = json!("");
    let err = render(&chart(), &no_url).unwrap_err();
    assert!(err.contains("publicUrl is required"), "{err}");
}

#[test]
fn burrows_pods_are_restricted_and_sandboxes_are_reached_only_by_them() {
    let docs = render(&chart(), &release()).unwrap();
    let deployment = find(&docs, "Deployment")[0];
    let template = &deployment["spec"]["template"];
    let spec: k8s_openapi::api::core::v1::PodSpec =
        serde_json::from_value(template["spec"].clone()).unwrap();
    assert_eq!(violations(&spec, false), Vec::<String>::new());
    let probes = &template["spec"]["containers"][0];
    assert_eq!(probes["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(probes["livenessProbe"]["httpGet"]["path"], "/healthz");

    // The policy selects the pods the runtime makes (its labels) and lets in only
    // Burrow's own pods (the Deployment's labels); it lets nothing out.
    let policy = find(&docs, "NetworkPolicy")[0];
    let selector = &policy["spec"]["podSelector"]["matchLabels"];
    assert_eq!(selector[ROLE_LABEL.0], ROLE_LABEL.1);
    assert_eq!(selector[INSTALL_LABEL], "burrow");
    let env = &template["spec"]["containers"][0]["env"];
    let env_value = |name: &str| {
        env.as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(env_value("BURROW_SANDBOX__KUBERNETES__INSTALL"), "burrow");
    assert_eq!(
        env_value("BURROW_SANDBOX__KUBERNETES__NAMESPACE"),
        policy["metadata"]["namespace"]
    );
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(
        policy["spec"]["egress"],
        json!([]),
        "sandboxes need no egress"
    );
    let from = &policy["spec"]["ingress"][0]["from"][0];
    for (key, value) in from["podSelector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(
            &template["metadata"]["labels"][key], value,
            "Burrow's pods carry {key}"
        );
    }
    assert_eq!(
        from["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        "burrow"
    );
}

#[test]
fn the_role_grants_what_the_runtime_calls_and_nothing_more() {
    let docs = render(&chart(), &release()).unwrap();
    let role = find(&docs, "Role")[0];
    assert_eq!(
        role["metadata"]["namespace"], "burrow",
        "the release's, by default"
    );
    let mut granted: Vec<String> = Vec::new();
    for rule in role["rules"].as_array().unwrap() {
        for resource in rule["resources"].as_array().unwrap() {
            for verb in rule["verbs"].as_array().unwrap() {
                granted.push(format!(
                    "{} {}",
                    verb.as_str().unwrap(),
                    resource.as_str().unwrap()
                ));
            }
        }
    }
    granted.sort();
    // What `KubeRuntime` sends (its tests record each request): pods made, read, listed
    // and deleted; logs read; commands and terminals through exec; warning events
    // listed; leases of short-lived sandboxes made, read, renewed and deleted.
    let mut expected = vec![
        "create pods",
        "get pods",
        "list pods",
        "delete pods",
        "get pods/log",
        "create pods/exec",
        "get pods/exec",
        "list events",
        "create leases",
        "get leases",
        "patch leases",
        "delete leases",
    ];
    expected.sort();
    assert_eq!(granted, expected);
    assert!(
        find(&docs, "ClusterRole").is_empty(),
        "nothing cluster-wide"
    );
    let binding = find(&docs, "RoleBinding")[0];
    assert_eq!(binding["subjects"][0]["name"], "burrow");
}

#[test]
fn burrow_accepts_every_setting_the_chart_gives_it() {
    let docs = render(&chart(), &release()).unwrap();
    let deployment = find(&docs, "Deployment")[0];
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let data = tempfile::tempdir().unwrap();
    let mut serve = std::process::Command::new(env!("CARGO_BIN_EXE_burrow"));
    serve
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for e in container["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        let value = match (name, e["value"].as_str()) {
            (_, Some(value)) => value.to_owned(),
            // What the Secrets would hold.
            ("BURROW_DATABASE_URL", None) => {
                format!("sqlite://{}/burrow.db?mode=rwc", data.path().display())
            }
            (_, None) => "0123456789abcdef0123456789abcdef".to_owned(),
        };
        serve.env(name, value);
    }
    // The data folder is the claim's mount in the pod; here a folder of the test's.
    serve
        .env("BURROW_DATA_DIR", data.path())
        .env("BURROW_LISTEN", "127.0.0.1:0")
        .env("BURROW_APPS_LISTEN", "127.0.0.1:0")
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .args(
            container["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap()),
        );
    let out = serve.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    // Every setting was read and accepted: it got as far as looking for the cluster.
    assert!(
        stderr.contains("Failed to reach the Kubernetes API for sandbox pods"),
        "{stderr}"
    );
}
