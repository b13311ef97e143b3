//! The pod a sandbox spec becomes: confined as the restricted profile requires, valid for
//! Kubernetes' own schema (checked offline by `kubernetes-validate`), and refused with a
//! reason when the spec asks for what a pod cannot have.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use burrow_kube::pod::{self, PodOptions, AGENT, AGENT_PORT, MAIN};
use burrow_kube::restricted::violations;
use burrow_sandbox::{Mount, Network, SandboxError, SandboxSpec, Volume, VolumeResolver};
use burrow_testkit::chart::kubernetes_validate;
use k8s_openapi::api::core::v1::Pod;

#[derive(Debug)]
struct DataFolder;

impl VolumeResolver for DataFolder {
    fn folder(&self, volume: &Volume) -> Result<PathBuf, String> {
        let root = PathBuf::from("/var/lib/burrow");
        Ok(match volume {
            Volume::Environment { key } => root.join("envs").join(key),
            Volume::Code { owner, version } => {
                root.join("apps").join(owner).join(format!("v{version}"))
            }
            Volume::Secrets { owner, revision } => root
                .join("secrets")
                .join(owner)
                .join(format!("r{revision}")),
            Volume::Workspace { id } => root.join("workspaces").join(id),
            Volume::Assigned { id } => PathBuf::from("/elsewhere").join(id),
            other => return Err(format!("{other} is not a folder")),
        })
    }
}

pub fn options() -> PodOptions {
    PodOptions {
        install: "test-install".into(),
        image: "registry.example/burrow-sandbox:1".into(),
        agent_image: "registry.example/burrow:1".into(),
        data_claim: "burrow-data".into(),
        data_mount: "/var/lib/burrow".into(),
        volumes: Arc::new(DataFolder),
        runtime_class: None,
        uid: 1000,
        agent_port: AGENT_PORT,
    }
}

/// What an app's sandbox asks for: its environment, code and secrets, a scratch folder,
/// the egress proxy and the data bridge as host services, and a timeout.
pub fn app_spec() -> SandboxSpec {
    let mut spec = SandboxSpec::new(vec!["python".into(), "-m".into(), "streamlit".into()]);
    spec.mounts = vec![
        Mount {
            volume: Volume::Environment {
                key: "base-1a2b".into(),
            },
            destination: "/opt/env".into(),
            writable: false,
        },
        Mount {
            volume: Volume::Code {
                owner: "app-1".into(),
                version: 3,
            },
            destination: "/app".into(),
            writable: false,
        },
        Mount {
            volume: Volume::Secrets {
                owner: "app-1".into(),
                revision: 2,
            },
            destination: "/run/secrets".into(),
            writable: false,
        },
        Mount {
            volume: Volume::Scratch {
                size_bytes: 8 << 20,
            },
            destination: "/home/sandbox/.cache".into(),
            writable: true,
        },
    ];
    spec.network = Network::EgressProxy { port: 3128 };
    spec.host_services = vec![3128, 5433];
    spec.limits.timeout = Some(Duration::from_secs(600));
    spec.labels = BTreeMap::from([
        ("burrow.app".to_owned(), "app-1".to_owned()),
        ("burrow.note".to_owned(), "a value / with spaces".to_owned()),
    ]);
    spec
}

fn made(spec: &SandboxSpec) -> Pod {
    pod::pod_for(
        "sb-0123456789ab",
        spec,
        &options(),
        "token-token-token-token",
    )
    .unwrap()
}

/// A container's mounts by where they are: the volume, its sub-path, and read-only.
fn mounts_of(
    container: &k8s_openapi::api::core::v1::Container,
) -> BTreeMap<&str, (&str, Option<&str>, Option<bool>)> {
    container
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| {
            (
                m.mount_path.as_str(),
                (m.name.as_str(), m.sub_path.as_deref(), m.read_only),
            )
        })
        .collect()
}

#[test]
fn an_apps_pod_meets_the_restricted_profile_and_carries_what_the_spec_asks() {
    let pod = made(&app_spec());
    let spec = pod.spec.clone().unwrap();
    assert_eq!(violations(&spec, true), Vec::<String>::new());

    let main = spec.containers.iter().find(|c| c.name == MAIN).unwrap();
    assert_eq!(main.args.as_ref().unwrap()[0], "python");
    let env: BTreeMap<_, _> = main
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
        .collect();
    assert_eq!(env["HTTPS_PROXY"], "http://127.0.0.1:3128");
    assert!(
        !env.contains_key(pod::AGENT_TOKEN_ENV),
        "the token is the agent's alone"
    );

    let mounts = mounts_of(main);
    assert_eq!(
        mounts["/opt/env"],
        ("data", Some("envs/base-1a2b"), Some(true))
    );
    assert_eq!(mounts["/app"], ("data", Some("apps/app-1/v3"), Some(true)));
    assert_eq!(mounts["/run/secrets"].1, Some("secrets/app-1/r2"));
    assert_eq!(mounts["/tmp"].2, Some(false));

    let limits = main.resources.as_ref().unwrap().limits.clone().unwrap();
    assert_eq!(limits["memory"].0, (512u64 << 20).to_string());
    assert_eq!(limits["cpu"].0, "1000m");
    assert_eq!(spec.active_deadline_seconds, Some(600));

    let agent = &spec.init_containers.as_ref().unwrap()[0];
    assert_eq!(agent.name, AGENT);
    assert_eq!(
        agent.restart_policy.as_deref(),
        Some("Always"),
        "a sidecar, up before the sandbox"
    );
    assert!(agent
        .command
        .as_ref()
        .unwrap()
        .join(" ")
        .ends_with("--ports 3128,5433"));

    let labels = pod.metadata.labels.clone().unwrap();
    assert_eq!(labels["burrow.app"], "app-1");
    assert!(
        !labels.contains_key("burrow.note"),
        "not a valid label value"
    );
    let all: BTreeMap<String, String> =
        serde_json::from_str(&pod.metadata.annotations.unwrap()[pod::LABELS_ANNOTATION]).unwrap();
    assert_eq!(all, app_spec().labels);
}

#[test]
fn what_a_pod_cannot_have_is_refused_with_why() {
    let mut spec = app_spec();
    spec.mounts.push(Mount {
        volume: Volume::HostPath {
            path: "/etc".into(),
        },
        destination: "/mnt/etc".into(),
        writable: false,
    });
    let SandboxError::InvalidSpec(why) = pod::pod_for("sb-1", &spec, &options(), "t").unwrap_err()
    else {
        panic!("not an invalid spec")
    };
    assert!(why.contains("host folder /etc cannot reach a pod"), "{why}");

    let mut spec = app_spec();
    spec.mounts.push(Mount {
        volume: Volume::Assigned { id: "w1".into() },
        destination: "/assigned".into(),
        writable: false,
    });
    let err = pod::pod_for("sb-1", &spec, &options(), "t")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("outside the data folder /var/lib/burrow"),
        "{err}"
    );

    let mut root = options();
    root.uid = 0;
    let err = pod::pod_for("sb-1", &app_spec(), &root, "t")
        .unwrap_err()
        .to_string();
    assert!(err.contains("other than root"), "{err}");
}

#[test]
fn the_checks_catch_each_way_a_pod_escapes_its_confinement() {
    let base = made(&app_spec()).spec.unwrap();
    type Change = Box<dyn Fn(&mut k8s_openapi::api::core::v1::PodSpec)>;
    let cases: Vec<(&str, Change)> = vec![
        ("hostNetwork", Box::new(|s| s.host_network = Some(true))),
        (
            "privileged",
            Box::new(|s| {
                s.containers[0]
                    .security_context
                    .as_mut()
                    .unwrap()
                    .privileged = Some(true)
            }),
        ),
        (
            "allowPrivilegeEscalation",
            Box::new(|s| {
                s.init_containers.as_mut().unwrap()[0]
                    .security_context
                    .as_mut()
                    .unwrap()
                    .allow_privilege_escalation = None
            }),
        ),
        (
            "capabilities.drop",
            Box::new(|s| {
                s.containers[0]
                    .security_context
                    .as_mut()
                    .unwrap()
                    .capabilities = None
            }),
        ),
        (
            "capabilities.add: SYS_ADMIN",
            Box::new(|s| {
                s.containers[0]
                    .security_context
                    .as_mut()
                    .unwrap()
                    .capabilities
                    .as_mut()
                    .unwrap()
                    .add = Some(vec!["SYS_ADMIN".into()])
            }),
        ),
        (
            "seccompProfile",
            Box::new(|s| {
                s.security_context.as_mut().unwrap().seccomp_profile = None;
                s.containers[0]
                    .security_context
                    .as_mut()
                    .unwrap()
                    .seccomp_profile = None;
            }),
        ),
        (
            "runAsUser must not be 0",
            Box::new(|s| s.security_context.as_mut().unwrap().run_as_user = Some(0)),
        ),
        (
            "hostPath volumes are not allowed",
            Box::new(|s| {
                s.volumes
                    .as_mut()
                    .unwrap()
                    .push(k8s_openapi::api::core::v1::Volume {
                        name: "host".into(),
                        host_path: Some(k8s_openapi::api::core::v1::HostPathVolumeSource {
                            path: "/".into(),
                            type_: None,
                        }),
                        ..Default::default()
                    })
            }),
        ),
        (
            "automountServiceAccountToken",
            Box::new(|s| s.automount_service_account_token = None),
        ),
        (
            "restartPolicy",
            Box::new(|s| s.restart_policy = Some("Always".into())),
        ),
        (
            "readOnlyRootFilesystem",
            Box::new(|s| {
                s.containers[0]
                    .security_context
                    .as_mut()
                    .unwrap()
                    .read_only_root_filesystem = Some(false)
            }),
        ),
        (
            "resources.limits.memory",
            Box::new(|s| {
                s.containers[0]
                    .resources
                    .as_mut()
                    .unwrap()
                    .limits
                    .as_mut()
                    .unwrap()
                    .remove("memory");
            }),
        ),
    ];
    for (what, change) in cases {
        let mut spec = base.clone();
        change(&mut spec);
        let found = violations(&spec, true);
        assert!(
            found.iter().any(|v| v.contains(what)),
            "{what} was not caught: {found:?}"
        );
    }
}

/// What a workspace's sandbox asks for: its files' folder and the packages' passage,
/// both shared with Burrow, beside a scratch folder.
fn workspace_spec() -> SandboxSpec {
    let mut spec = SandboxSpec::new(vec!["/bin/sh".into(), "-c".into(), "sleep 1d".into()]);
    let shared = |destination: &str| Mount {
        volume: Volume::Shared {
            size_bytes: 64 << 20,
        },
        destination: destination.into(),
        writable: true,
    };
    spec.mounts = vec![
        Mount {
            volume: Volume::Scratch {
                size_bytes: 8 << 20,
            },
            destination: "/home/sandbox/.cache".into(),
            writable: true,
        },
        shared("/home/sandbox/work"),
        shared("/home/sandbox/.burrow"),
    ];
    spec
}

#[test]
fn a_workspaces_shared_folders_are_capped_memory_folders_the_agent_mounts_too() {
    let pod = made(&workspace_spec());
    let spec = pod.spec.clone().unwrap();
    assert_eq!(violations(&spec, true), Vec::<String>::new());
    let main = spec.containers.iter().find(|c| c.name == MAIN).unwrap();
    let mounts = mounts_of(main);
    assert_eq!(mounts["/home/sandbox/work"], ("m1", None, Some(false)));
    assert_eq!(mounts["/home/sandbox/.burrow"], ("m2", None, Some(false)));
    assert_eq!(
        mounts["/home/sandbox/.cache"].0, "m0",
        "scratch stays in memory"
    );
    for name in ["m1", "m2"] {
        let volume = spec
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == name)
            .unwrap();
        let empty_dir = volume.empty_dir.as_ref().expect("a memory folder");
        assert_eq!(empty_dir.medium.as_deref(), Some("Memory"));
        assert_eq!(
            empty_dir.size_limit.as_ref().unwrap().0,
            (64u64 << 20).to_string()
        );
    }
    // The agent serves them from its own mounts; no host service is asked for.
    let agent = &spec.init_containers.as_ref().unwrap()[0];
    assert_eq!(agent.name, AGENT);
    let at_agent = mounts_of(agent);
    assert_eq!(
        at_agent.into_iter().collect::<Vec<_>>(),
        vec![
            ("/burrow/shared/m1", ("m1", None, Some(false))),
            ("/burrow/shared/m2", ("m2", None, Some(false))),
        ]
    );
    let command = agent.command.clone().unwrap();
    assert!(
        command.ends_with(&["--shared".into(), "/burrow/shared".into()]),
        "{command:?}"
    );
    assert!(!command.iter().any(|a| a == "--ports"), "{command:?}");
    let limits = agent.resources.as_ref().unwrap().limits.clone().unwrap();
    assert_eq!(
        limits["memory"].0,
        ((32u64 << 20) + (128 << 20)).to_string()
    );
    // Nothing of the sandbox's is on the claim.
    assert!(!spec
        .volumes
        .iter()
        .flatten()
        .any(|v| v.persistent_volume_claim.is_some()));
}

#[test]
fn kubernetes_schema_accepts_the_pod_and_refuses_a_broken_one() {
    let mut workspace = serde_json::to_value(made(&workspace_spec())).unwrap();
    workspace["apiVersion"] = "v1".into();
    workspace["kind"] = "Pod".into();
    kubernetes_validate(&[workspace], "1.33").unwrap();
    let mut pod = serde_json::to_value(made(&app_spec())).unwrap();
    pod["apiVersion"] = "v1".into();
    pod["kind"] = "Pod".into();
    kubernetes_validate(std::slice::from_ref(&pod), "1.33").unwrap();

    // The validator can fail: a capability list written as a string is refused.
    pod["spec"]["containers"][0]["securityContext"]["capabilities"]["drop"] = "ALL".into();
    assert!(
        kubernetes_validate(&[pod], "1.33").is_err(),
        "a broken pod passed"
    );
}
