//! Named volumes: found by the runtime's resolver, never by a host path in the spec; scratch is a capped tmpfs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use burrow_sandbox::{Mount, Runtime, Volume, VolumeResolver};

use crate::helpers::{python_spec, Host};

/// Workspaces as folders under `workspaces/` of the test's data directory; nothing else.
#[derive(Debug)]
struct Workspaces(PathBuf);

impl VolumeResolver for Workspaces {
    fn folder(&self, volume: &Volume) -> Result<PathBuf, String> {
        match volume {
            Volume::Workspace { id } if self.0.join(id).is_dir() => Ok(self.0.join(id)),
            other => Err(format!("{other} is not in this test")),
        }
    }
}

fn mount(volume: Volume, destination: &str, writable: bool) -> Mount {
    Mount {
        volume,
        destination: destination.into(),
        writable,
    }
}

#[tokio::test]
async fn named_volumes_are_found_by_the_resolver_and_scratch_is_capped() {
    let host = Host::with_volumes(|dir: &Path| Arc::new(Workspaces(dir.join("workspaces"))));
    let folder = host.dir.path().join("workspaces").join("w1");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("notes.txt"), "from the workspace").unwrap();
    let mut spec = python_spec(
        r#"
import errno
print('read', open('/work/notes.txt').read(), flush=True)
try:
    open('/work/planted', 'w')
except OSError as e:
    print('workspace read-only' if e.errno == errno.EROFS else e, flush=True)
open('/scratch/a', 'wb').write(b'x' * (1 << 20))
try:
    open('/scratch/b', 'wb').write(b'x' * (3 << 20))
except OSError as e:
    print('scratch full' if e.errno == errno.ENOSPC else e, flush=True)
"#,
    );
    spec.mounts = vec![
        mount(Volume::Workspace { id: "w1".into() }, "/work", false),
        mount(
            Volume::Scratch {
                size_bytes: 2 << 20,
            },
            "/scratch",
            true,
        ),
    ];
    let id = host.runtime.create(spec).await.unwrap().id;
    let exit = host.runtime.wait(&id).await.unwrap();
    let out = crate::helpers::output_of(&host.runtime, &id).await;
    assert_eq!(exit.shell_code(), 0, "{out}");
    assert!(out.contains("read from the workspace"), "{out}");
    assert!(out.contains("workspace read-only"), "{out}");
    assert!(out.contains("scratch full"), "{out}");
    host.runtime.remove(&id).await.unwrap();

    // What the resolver does not know is refused before anything starts, saying why.
    let mut spec = python_spec("pass");
    spec.mounts = vec![mount(
        Volume::Environment {
            key: "base-missing".into(),
        },
        "/opt/burrow/env",
        false,
    )];
    let err = host.runtime.create(spec).await.unwrap_err().to_string();
    assert!(
        err.contains("/opt/burrow/env")
            && err.contains("environment base-missing is not in this test"),
        "{err}"
    );
    assert!(host
        .runtime
        .list(&Default::default())
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_runtime_without_a_resolver_refuses_named_volumes() {
    let host = Host::new();
    let mut spec = python_spec("pass");
    spec.mounts = vec![mount(
        Volume::Code {
            owner: "app1".into(),
            version: 1,
        },
        "/app",
        false,
    )];
    let err = host.runtime.create(spec).await.unwrap_err().to_string();
    assert!(err.contains("without a volume resolver"), "{err}");
}
