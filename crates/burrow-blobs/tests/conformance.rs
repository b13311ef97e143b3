//! object_store's own conformance checks against the stores Burrow opens from its
//! configuration: a local folder, and a real S3-compatible server (SeaweedFS) with SigV4,
//! conditional writes and multipart uploads. Burrow puts, gets (whole and by range),
//! lists, copies and deletes; each of those is checked here, with what builds on them.
//!
//! SeaweedFS does not do two things object_store's checks ask of it and Burrow never
//! uses: listing from an offset (`start-after`), and `copy_if_not_exists` unless the
//! client is configured for it. Those two checks run against the local folder only;
//! [`what_burrow_does`] checks the rest of what they cover, on both stores.

use object_store::integration::*;
use object_store::ObjectStore;

/// The checks every store passes; `updates` says whether it honours `PutMode::Update`,
/// `complete` whether it does what Burrow does not use (see the module's documentation).
async fn conformance(store: &dyn ObjectStore, updates: bool, complete: bool) {
    if complete {
        put_get_delete_list(store).await;
        copy_rename_nonexistent_object(store).await;
    }
    get_opts(store).await;
    put_opts(store, updates).await;
    list_uses_directories_correctly(store).await;
    list_with_delimiter(store).await;
    rename_and_copy(store).await;
    stream_get(store).await;
    let missing = get_nonexistent_object(store, None).await.unwrap_err();
    assert_eq!(
        burrow_blobs::failure(&missing),
        burrow_blobs::Failure::NotFound,
        "{missing}"
    );
    multipart_race_condition(store, true).await;
    multipart_out_of_order(store).await;
    // Last: a local folder keeps the empty folders it leaves, which the checks above
    // would list.
    what_burrow_does(store).await;
}

/// Each call Burrow makes, as it makes it: a put, a whole get, a range (Parquet's
/// footer), a head, a listing under a folder, a copy, and deletes; and a copy or get of
/// what is not there is `NotFound` (a review's stale file, a missing bundle).
async fn what_burrow_does(store: &dyn ObjectStore) {
    use object_store::path::Path;
    let bundle = Path::from("bundles/bnd_1.zip");
    let content: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    store.put(&bundle, content.clone().into()).await.unwrap();
    store
        .put(&Path::from("bundles/bnd_2.zip"), "two".into())
        .await
        .unwrap();
    store
        .put(&Path::from("bundlesque/other"), "not in bundles/".into())
        .await
        .unwrap();
    let whole = store.get(&bundle).await.unwrap().bytes().await.unwrap();
    assert_eq!(whole.as_ref(), content.as_slice());
    let tail = store.get_range(&bundle, 99_992..100_000).await.unwrap();
    assert_eq!(tail.as_ref(), &content[99_992..]);
    assert_eq!(store.head(&bundle).await.unwrap().size, 100_000);
    let listed = {
        use futures::TryStreamExt;
        let mut names: Vec<String> = store
            .list(Some(&Path::from("bundles")))
            .map_ok(|m| m.location.to_string())
            .try_collect()
            .await
            .unwrap();
        names.sort();
        names
    };
    assert_eq!(listed, ["bundles/bnd_1.zip", "bundles/bnd_2.zip"]);
    let copy = Path::from("workspaces/p/w/copy");
    store.copy(&bundle, &copy).await.unwrap();
    assert_eq!(store.head(&copy).await.unwrap().size, 100_000);
    let missing = Path::from("workspaces/p/w/gone");
    let e = store.copy(&missing, &copy).await.unwrap_err();
    assert!(matches!(e, object_store::Error::NotFound { .. }), "{e}");
    for path in [
        &bundle,
        &copy,
        &Path::from("bundles/bnd_2.zip"),
        &Path::from("bundlesque/other"),
    ] {
        store.delete(path).await.unwrap();
    }
    let e = store.get(&bundle).await.unwrap_err();
    assert_eq!(
        burrow_blobs::failure(&e),
        burrow_blobs::Failure::NotFound,
        "{e}"
    );
}

#[tokio::test]
async fn a_local_folder_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let config = burrow_config::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let store = burrow_blobs::open(&config).unwrap();
    conformance(store.as_ref(), false, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_compatible_server_conforms() {
    let seaweed = burrow_testkit::s3::Seaweed::start("burrow").await;
    let config = burrow_config::Config {
        blobs: seaweed.config(30, 10),
        ..Default::default()
    };
    let store = burrow_blobs::open(&config).unwrap();
    conformance(store.as_ref(), true, false).await;
}

#[tokio::test]
async fn a_wrong_secret_is_refused_as_unavailable_storage() {
    let seaweed = burrow_testkit::s3::Seaweed::start("burrow").await;
    let mut blobs = seaweed.config(5, 1);
    if let burrow_config::BlobConfig::S3 {
        secret_access_key, ..
    } = &mut blobs
    {
        *secret_access_key = Some(burrow_config::Secret::new("not the secret"));
    }
    let config = burrow_config::Config {
        blobs,
        ..Default::default()
    };
    let store = burrow_blobs::open(&config).unwrap();
    let e = store
        .put(&"a/b".into(), object_store::PutPayload::from_static(b"x"))
        .await
        .expect_err("SeaweedFS checks the signature");
    assert_eq!(
        burrow_blobs::failure(&e),
        burrow_blobs::Failure::Unavailable,
        "{e}"
    );
}
