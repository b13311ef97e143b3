//! The gateway's HTTP/1.1 engine on real sockets: a viewer's raw bytes in, an upstream
//! that answers raw bytes (well formed or hostile), and what each side sees. One
//! destination, `app.apps.test`, granted to the cookie `burrow_view=good`. The stories
//! against real sandboxes and Streamlit are in `crates/burrow/tests/apps`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use burrow_gateway::{Destinations, Gateway};
use burrow_sandbox::Connection;
use burrow_service::access::ViewAccess;
use burrow_service::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

const HOST: &str = "app.apps.test";
const COOKIE: &str = "burrow_view=good";

/// What an upstream connection does with each request it reads.
type Answer = Arc<dyn Fn(&str) -> Vec<u8> + Send + Sync>;

/// An upstream that answers each request head (and the bytes after it) with `answer`,
/// keeps its connections open unless the answer says `close`, and records what it read.
struct Upstream {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    /// Connections the gateway closed.
    closed: Arc<AtomicUsize>,
    seen: Arc<Mutex<String>>,
}

async fn upstream(answer: Answer) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(String::new()));
    let closed = Arc::new(AtomicUsize::new(0));
    let (count, log, ends) = (
        Arc::clone(&accepted),
        Arc::clone(&seen),
        Arc::clone(&closed),
    );
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            let (answer, log, ends) = (Arc::clone(&answer), Arc::clone(&log), Arc::clone(&ends));
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => {
                            ends.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                        Ok(n) => n,
                    };
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    log.lock().push_str(&text);
                    let reply = answer(&text);
                    if reply.is_empty() {
                        continue;
                    }
                    if stream.write_all(&reply).await.is_err() {
                        return;
                    }
                    if String::from_utf8_lossy(&reply).contains("close") {
                        return;
                    }
                }
            });
        }
    });
    Upstream {
        addr,
        accepted,
        closed,
        seen,
    }
}

#[derive(Clone)]
struct Fake {
    upstream: SocketAddr,
    running: bool,
}

#[async_trait::async_trait]
impl Destinations for Fake {
    /// The upstream's address.
    type Target = String;

    fn find(&self, host: &str) -> Option<String> {
        host.strip_suffix(".apps.test").map(str::to_owned)
    }
    fn origin(&self, id: &str) -> Url {
        Url::parse(&format!("http://{id}.apps.test")).unwrap()
    }
    fn nowhere(&self) -> Error {
        Error::not_found("app_not_found", "no app here")
    }
    fn refused(&self) -> Error {
        Error::not_found("app_not_found", "no app here")
    }
    fn sign_in(&self, id: &str, next: &str) -> Url {
        Url::parse(&format!("http://platform.test/open/{id}?next={next}")).unwrap()
    }
    async fn redeem(&self, _: &str, _: &str) -> Result<Option<burrow_core::SessionToken>, Error> {
        Ok(None)
    }
    fn access(
        &self,
        id: &str,
        hash: &str,
    ) -> impl std::future::Future<Output = Result<ViewAccess, Error>> + Send {
        let good = burrow_core::SessionToken::from_client("good").hash();
        let granted = id == "app" && hash == good;
        std::future::ready(Ok(if granted {
            ViewAccess::Granted
        } else {
            ViewAccess::Unknown
        }))
    }
    async fn status(&self, _: &str) -> Result<serde_json::Value, Error> {
        Ok(serde_json::json!({"status": "running"}))
    }
    fn visit(&self, id: &str) -> Option<String> {
        (self.running && id == "app").then(|| self.upstream.to_string())
    }
    async fn wake(&self, _: &str) -> Result<String, Error> {
        Ok("The app".into())
    }
    fn upstream_key(target: &String) -> &str {
        target
    }
    async fn connect(&self, target: &String) -> Result<Connection, Error> {
        let stream = TcpStream::connect(target.as_str()).await.unwrap();
        Ok(Box::new(stream))
    }
    fn touch(&self, _: &str) {}
    fn max_body_bytes(&self) -> usize {
        1024
    }
    fn recheck_every(&self) -> Duration {
        Duration::from_secs(60)
    }
    async fn access_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }
}

/// The gateway in front of `upstream`; its address.
async fn gateway(upstream: &Upstream, running: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = Fake {
        upstream: upstream.addr,
        running,
    };
    tokio::spawn(burrow_gateway::serve(Gateway::new(fake), listener));
    addr
}

/// Sends `bytes` on a new viewer connection and reads until it closes.
async fn exchange(gateway: SocketAddr, bytes: &str) -> String {
    let mut viewer = TcpStream::connect(gateway).await.unwrap();
    viewer.write_all(bytes.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), viewer.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Reads from a viewer connection that stays open until `done` says what came is enough.
async fn read_until(viewer: &mut TcpStream, done: impl Fn(&str) -> bool) -> String {
    let mut buf = vec![0u8; 4096];
    let mut got = String::new();
    while !done(&got) {
        let n = tokio::time::timeout(Duration::from_secs(10), viewer.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "the viewer's connection closed: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    got
}

fn get(path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\nCookie: {COOKIE}\r\n{extra}\r\n")
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[tokio::test]
async fn requests_on_one_connection_share_one_upstream_connection_in_order() {
    let up = upstream(Arc::new(|req: &str| {
        let path = req.split(' ').nth(1).unwrap_or_default().to_owned();
        ok(&format!("at {path}"))
    }))
    .await;
    let gw = gateway(&up, true).await;
    // Three pipelined requests, the last asking to close.
    let answer = exchange(
        gw,
        &format!(
            "{}{}{}",
            get("/a", ""),
            get("/b", ""),
            get("/c", "Connection: close\r\n")
        ),
    )
    .await;
    let bodies: Vec<&str> = answer.matches("at /").collect();
    assert_eq!(bodies.len(), 3, "{answer}");
    let (a, b, c) = (
        answer.find("at /a").unwrap(),
        answer.find("at /b").unwrap(),
        answer.find("at /c").unwrap(),
    );
    assert!(a < b && b < c, "answers in order: {answer}");
    assert_eq!(
        up.accepted.load(Ordering::SeqCst),
        1,
        "one upstream connection"
    );
    let seen = up.seen.lock().clone();
    assert!(
        !seen.contains("burrow_view"),
        "Burrow's cookie reached the app: {seen}"
    );
    assert!(seen.contains("x-forwarded-host: app.apps.test"), "{seen}");
}

#[tokio::test]
async fn a_chunked_answer_is_rechunked_and_a_close_delimited_one_closes() {
    let chunked = upstream(Arc::new(|_: &str| {
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n".to_vec()
    }))
    .await;
    let gw = gateway(&chunked, true).await;
    let answer = exchange(gw, &get("/", "Connection: close\r\n")).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer.contains("transfer-encoding: chunked\r\n"),
        "{answer}"
    );
    assert!(!answer.contains("content-length"), "{answer}");
    assert!(
        answer.ends_with("\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
        "{answer}"
    );

    // An HTTP/1.0 viewer gets the data alone, and the connection closes.
    let answer = exchange(
        gw,
        &format!("GET / HTTP/1.0\r\nHost: {HOST}\r\nCookie: {COOKIE}\r\n\r\n"),
    )
    .await;
    assert!(answer.ends_with("\r\n\r\nhello world"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");

    let until_close = upstream(Arc::new(|_: &str| {
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it".to_vec()
    }))
    .await;
    let gw = gateway(&until_close, true).await;
    // No `Connection: close` asked: the gateway closes, as the body's end is the close.
    let answer = exchange(gw, &get("/", "")).await;
    assert!(answer.contains("connection: close\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nall of it"), "{answer}");
}

#[tokio::test]
async fn an_upstream_that_closed_its_kept_alive_connection_is_asked_again() {
    // Each connection answers once, then closes without saying so.
    let once = upstream(Arc::new(|_: &str| {
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Note: close\r\n\r\nonce".to_vec()
    }))
    .await;
    let gw = gateway(&once, true).await;
    let mut viewer = TcpStream::connect(gw).await.unwrap();
    for _ in 0..3 {
        viewer.write_all(get("/", "").as_bytes()).await.unwrap();
        let got = read_until(&mut viewer, |got| got.ends_with("once")).await;
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
        // Let the upstream's close arrive before the next request.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(once.accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_hostile_upstream_answer_is_a_502_and_never_reaches_the_viewer() {
    for bad in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"[..],
        b"not http at all\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n",
    ] {
        let reply = bad.to_vec();
        let up = upstream(Arc::new(move |_: &str| reply.clone())).await;
        let gw = gateway(&up, true).await;
        let answer = exchange(gw, &get("/", "Connection: close\r\n")).await;
        assert!(
            answer.starts_with("HTTP/1.1 502 "),
            "{}: {answer}",
            String::from_utf8_lossy(bad)
        );
        assert!(answer.contains("app_unreachable"), "{answer}");
    }
    // An answer cut short: the viewer's connection ends without a whole answer.
    let up = upstream(Arc::new(|_: &str| {
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nX: close\r\n\r\nshort".to_vec()
    }))
    .await;
    let gw = gateway(&up, true).await;
    let answer = exchange(gw, &get("/", "")).await;
    assert!(answer.ends_with("short"), "{answer}");
}

#[tokio::test]
async fn smuggling_and_other_app_requests_behind_a_request_are_refused() {
    let up = upstream(Arc::new(|_: &str| ok("served"))).await;
    let gw = gateway(&up, true).await;
    // Both lengths: refused, the connection closes, nothing reaches the app.
    let answer = exchange(
        gw,
        &format!(
            "POST / HTTP/1.1\r\nHost: {HOST}\r\nCookie: {COOKIE}\r\nContent-Length: 40\r\n\
             Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
    assert_eq!(up.accepted.load(Ordering::SeqCst), 0);

    // A request pipelined behind a body is read as a request and checked on its own:
    // without a session, it goes to sign in.
    let answer = exchange(
        gw,
        &format!(
            "POST / HTTP/1.1\r\nHost: {HOST}\r\nCookie: {COOKIE}\r\nContent-Length: 5\r\n\r\nhello\
             GET /secret HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(
        answer.contains("HTTP/1.1 303 ") || answer.contains("HTTP/1.1 307 "),
        "{answer}"
    );
    let seen = up.seen.lock().clone();
    assert!(
        seen.contains("hello") && !seen.contains("/secret"),
        "{seen}"
    );
}

#[tokio::test]
async fn request_bodies_are_bounded_and_chunked_ones_rechunked() {
    let up = upstream(Arc::new(|req: &str| {
        if req.contains("\r\n0\r\n\r\n") || req.contains("content-length") {
            ok("taken")
        } else {
            Vec::new()
        }
    }))
    .await;
    let gw = gateway(&up, true).await;
    let answer = exchange(
        gw,
        &format!(
            "POST / HTTP/1.1\r\nHost: {HOST}\r\nCookie: {COOKIE}\r\nTransfer-Encoding: chunked\r\n\
             Expect: 100-continue\r\nConnection: close\r\n\r\n3;ext\r\nabc\r\n0\r\n\r\n"
        ),
    )
    .await;
    assert!(answer.ends_with("taken"), "{answer}");
    let seen = up.seen.lock().clone();
    assert!(
        seen.contains("transfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        "{seen}"
    );
    assert!(!seen.contains("expect"), "{seen}");

    // Over the destination's limit (1,024 bytes here), by length or as chunks: 413.
    let answer = exchange(
        gw,
        &format!(
            "POST / HTTP/1.1\r\nHost: {HOST}\r\nCookie: {COOKIE}\r\nContent-Length: 2000\r\n\r\n"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    let big = format!("800\r\n{}\r\n0\r\n\r\n", "x".repeat(0x800));
    let answer = exchange(
        gw,
        &format!(
            "POST / HTTP/1.1\r\nHost: {HOST}\r\nCookie: {COOKIE}\r\nTransfer-Encoding: chunked\r\n\r\n{big}"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
}

#[tokio::test]
async fn oversized_headers_get_their_431_whole() {
    let up = upstream(Arc::new(|_: &str| ok("never"))).await;
    let gw = gateway(&up, true).await;
    let huge = format!("X-Big: {}\r\n", "y".repeat(60 * 1024));
    let answer = exchange(gw, &get("/", &huge)).await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    assert!(answer.contains("headers_too_large"), "{answer}");
    assert_eq!(up.accepted.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_sleeping_destination_shows_the_loading_page_and_wakes() {
    let up = upstream(Arc::new(|_: &str| ok("never"))).await;
    let gw = gateway(&up, false).await;
    let answer = exchange(gw, &get("/", "Accept: text/html\r\nConnection: close\r\n")).await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    assert!(answer.contains("The app"), "{answer}");
    let answer = exchange(gw, &get("/data", "Connection: close\r\n")).await;
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 2"),
        "{answer}"
    );
    assert_eq!(up.accepted.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_websocket_is_tunnelled_with_the_bytes_that_came_with_it() {
    let up = upstream(Arc::new(|req: &str| {
        if req.starts_with("GET /ws") {
            // The switch and a first frame from the app in one write.
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nFROM-APP".to_vec()
        } else {
            format!("echo:{req}").into_bytes()
        }
    }))
    .await;
    let gw = gateway(&up, true).await;
    let mut viewer = TcpStream::connect(gw).await.unwrap();
    let upgrade = get(
        "/ws",
        &format!(
            "Origin: http://{HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        ),
    );
    // The viewer's first bytes ride behind the upgrade request.
    viewer
        .write_all(format!("{upgrade}FROM-VIEWER").as_bytes())
        .await
        .unwrap();
    let mut got = String::new();
    let mut buf = vec![0u8; 4096];
    while !got.contains("echo:FROM-VIEWER") {
        let n = tokio::time::timeout(Duration::from_secs(10), viewer.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(got.starts_with("HTTP/1.1 101 "), "{got}");
    assert!(got.contains("\r\n\r\nFROM-APP"), "{got}");

    // From another origin: refused before any byte reaches the app.
    let before = up.accepted.load(Ordering::SeqCst);
    let foreign = upgrade
        .replace(&format!("http://{HOST}"), "http://evil.apps.test")
        .replace("Connection: Upgrade", "Connection: Upgrade, close");
    let answer = exchange(gw, &foreign).await;
    assert!(answer.starts_with("HTTP/1.1 403 "), "{answer}");
    assert_eq!(up.accepted.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn a_viewer_that_leaves_an_app_that_never_answers_frees_its_connection() {
    let up = upstream(Arc::new(|req: &str| {
        if req.starts_with("GET /hang") {
            Vec::new()
        } else {
            ok("fine")
        }
    }))
    .await;
    let gw = gateway(&up, true).await;
    let mut viewer = TcpStream::connect(gw).await.unwrap();
    viewer.write_all(get("/hang", "").as_bytes()).await.unwrap();
    while up.accepted.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(viewer);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while up.closed.load(Ordering::SeqCst) == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the gateway kept waiting on the app for a viewer that left"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_request_that_may_not_be_sent_twice_never_goes_to_a_closed_connection() {
    // Each connection answers once, then closes without saying so.
    let once = upstream(Arc::new(|_: &str| {
        b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nX-Note: close\r\n\r\nonce".to_vec()
    }))
    .await;
    let gw = gateway(&once, true).await;
    let mut viewer = TcpStream::connect(gw).await.unwrap();
    for _ in 0..2 {
        let delete = format!("DELETE /file HTTP/1.1\r\nHost: {HOST}\r\nCookie: {COOKIE}\r\n\r\n");
        viewer.write_all(delete.as_bytes()).await.unwrap();
        let got = read_until(&mut viewer, |got| got.ends_with("once")).await;
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(once.accepted.load(Ordering::SeqCst), 2);
}
