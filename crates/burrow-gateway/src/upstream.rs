//! Reaching a running destination: kept-alive HTTP connections to its sandbox, one
//! request forwarded and streamed back, and WebSockets tunnelled byte for byte.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use burrow_service::{Error, Kind};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

use burrow_service::access::ViewAccess;

use crate::{clean_request_headers, clean_response_headers, Destinations, Gateway};

/// The kept-alive connections to sandboxes that one viewer connection has opened. Its
/// requests reuse the idle one to their sandbox, and the connections are driven on the
/// viewer connection's own task ([`drive`]), so a request and its answer never change
/// threads on their way through. They close with the viewer's connection; a request to
/// another sandbox (another `Host` on the same connection) closes the idle one.
#[derive(Debug)]
pub(crate) struct Affinity {
    idle: parking_lot::Mutex<Option<(String, Sender)>>,
    drivers: tokio::sync::mpsc::UnboundedSender<Driver>,
}

type Sender = hyper::client::conn::http1::SendRequest<Body>;
/// An upstream connection's I/O, run by [`drive`] beside the viewer's connection.
type Driver = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

impl Affinity {
    /// An idle connection to `sandbox` that can take a request now. A connection still
    /// sending its last request's body (answered early) is not one.
    fn take(&self, sandbox: &str) -> Option<Sender> {
        let mut idle = self.idle.lock();
        match idle.take() {
            Some((key, sender)) if key == sandbox && sender.is_ready() => Some(sender),
            Some(other) if other.0 == sandbox && !other.1.is_closed() => {
                *idle = Some(other);
                None
            }
            _ => None,
        }
    }

    fn put(&self, sandbox: String, sender: Sender) {
        *self.idle.lock() = Some((sandbox, sender));
    }
}

/// Serves one viewer connection (`connection`, hyper's) and, on the same task, every
/// upstream connection its requests open; returns what `connection` returns. The
/// upstream connections end with it.
pub(crate) async fn drive<F: std::future::Future>(
    connection: impl FnOnce(Arc<Affinity>) -> F,
) -> F::Output {
    let (drivers, mut opened) = tokio::sync::mpsc::unbounded_channel();
    let affinity = Arc::new(Affinity {
        idle: parking_lot::Mutex::new(None),
        drivers,
    });
    let mut connection = std::pin::pin!(connection(affinity));
    let mut running: Vec<Driver> = Vec::new();
    std::future::poll_fn(|cx| {
        let output = connection.as_mut().poll(cx);
        // Connections opened while the viewer's was polled start now, and every one
        // runs until its I/O waits; each registers this task's waker.
        while let std::task::Poll::Ready(Some(driver)) = opened.poll_recv(cx) {
            running.push(driver);
        }
        running.retain_mut(|driver| driver.as_mut().poll(cx).is_pending());
        output
    })
    .await
}

/// Who is asking for which destination: what the headers sent on say.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    pub id: &'a str,
    pub origin: &'a Url,
    pub client: SocketAddr,
    /// The viewer connection's own upstream connections.
    pub affinity: &'a Arc<Affinity>,
}

async fn open_upstream<D: Destinations>(
    destinations: &D,
    target: &D::Target,
    affinity: &Affinity,
) -> Result<Sender, Error> {
    let stream = destinations.connect(target).await?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| bad_gateway(e.to_string()))?;
    let driver = Box::pin(async move {
        let _ = connection.await;
    });
    // The viewer's connection has ended if no one receives: so does this one.
    let _ = affinity.drivers.send(driver);
    Ok(sender)
}

/// Sends one HTTP request to the destination over a kept-alive connection and streams
/// the answer back.
pub(crate) async fn forward<D: Destinations>(
    gateway: &Arc<Gateway<D>>,
    call: Call<'_>,
    target: &D::Target,
    request: Request,
) -> Result<Response, Error> {
    let (mut parts, body) = request.into_parts();
    clean_request_headers(call.origin, &mut parts.headers, call.client, false);
    let limit = gateway.destinations.max_body_bytes();
    let body = Body::new(http_body_util::Limited::new(body, limit));
    let mut request = hyper::Request::from_parts(parts, body);
    let key = D::upstream_key(target);
    // An idle connection the destination has meanwhile closed hands the request back;
    // then a fresh connection takes it.
    let mut sender = match call.affinity.take(&key) {
        Some(sender) => sender,
        None => open_upstream(&gateway.destinations, target, call.affinity).await?,
    };
    let response = loop {
        match sender.try_send_request(request).await {
            Ok(response) => break response,
            Err(mut e) => match e.take_message() {
                Some(back) => {
                    request = back;
                    sender = open_upstream(&gateway.destinations, target, call.affinity).await?;
                }
                None => {
                    let error = e.into_error();
                    return Err(if caused_by_length_limit(&error) {
                        Error::new(
                            Kind::TooLarge,
                            "body_too_large",
                            "the request body is larger than the app accepts",
                        )
                    } else {
                        bad_gateway(error.to_string())
                    });
                }
            },
        }
    };
    let (mut parts, body) = response.into_parts();
    clean_response_headers(&mut parts.headers, false);
    let body = Returning {
        body,
        back: Some((Arc::clone(call.affinity), key, sender)),
    };
    Ok(Response::from_parts(
        parts,
        Body::new(body.map_err(axum::Error::new)),
    ))
}

/// An answer's body on its way to the viewer, holding the connection it came on: once
/// the body has ended, the connection is the viewer connection's idle one again. One
/// dropped before its end (the viewer left) is closed with it, as it may still be sending.
struct Returning {
    body: hyper::body::Incoming,
    back: Option<(Arc<Affinity>, String, Sender)>,
}

impl Returning {
    fn give_back(&mut self) {
        if let Some((affinity, key, sender)) = self.back.take() {
            affinity.put(key, sender);
        }
    }
}

impl hyper::body::Body for Returning {
    type Data = hyper::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let frame = std::task::ready!(std::pin::Pin::new(&mut this.body).poll_frame(cx));
        if frame.is_none() {
            this.give_back();
        }
        std::task::Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        use hyper::body::Body as _;
        // An answer without a body (a 304, a HEAD) is never polled to its end.
        if self.body.is_end_stream() {
            self.give_back();
        }
    }
}

/// Whether an upstream error came from the request body passing its limit.
fn caused_by_length_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

fn bad_gateway(detail: String) -> Error {
    Error::new(
        Kind::Unreachable,
        "app_unreachable",
        "the app did not answer: it may be restarting, so try again in a moment",
    )
    .with_detail(detail)
}

/// Passes a WebSocket upgrade to the destination and, once it agrees, tunnels bytes
/// both ways. Messages from the viewer (not pings) count as activity.
pub(crate) async fn tunnel<D: Destinations>(
    gateway: &Arc<Gateway<D>>,
    call: Call<'_>,
    session: String,
    upstream: burrow_sandbox::Connection,
    mut request: Request,
) -> Result<Response, Error> {
    let client_upgrade = hyper::upgrade::on(&mut request);
    let (mut parts, _) = request.into_parts();
    clean_request_headers(call.origin, &mut parts.headers, call.client, true);
    let request = hyper::Request::from_parts(parts, Body::empty());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(upstream))
        .await
        .map_err(|e| bad_gateway(e.to_string()))?;
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let mut response = sender
        .send_request(request)
        .await
        .map_err(|e| bad_gateway(e.to_string()))?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (mut parts, body) = response.into_parts();
        clean_response_headers(&mut parts.headers, false);
        return Ok(Response::from_parts(
            parts,
            Body::new(body.map_err(axum::Error::new)),
        ));
    }
    let upstream_upgrade = hyper::upgrade::on(&mut response);
    let gateway = Arc::clone(gateway);
    let id = call.id.to_owned();
    tokio::spawn(async move {
        let (Ok(client_io), Ok(upstream_io)) = (client_upgrade.await, upstream_upgrade.await)
        else {
            return;
        };
        let (mut client_read, mut client_write) = tokio::io::split(TokioIo::new(client_io));
        let (mut upstream_read, mut upstream_write) = tokio::io::split(TokioIo::new(upstream_io));
        let inbound = async {
            let mut frames = crate::wsframes::Scanner::default();
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = match client_read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if frames.feed(&buf[..n]) {
                    gateway.destinations.touch(&id);
                }
                if upstream_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = upstream_write.shutdown().await;
        };
        let outbound = async {
            let _ = tokio::io::copy(&mut upstream_read, &mut client_write).await;
            let _ = client_write.shutdown().await;
        };
        // The session and membership are checked again while the socket is open: a
        // viewer removed from the project (on any replica: an `access` event), or whose
        // session ended (the timer), is cut off.
        let revalidate = async {
            let every = gateway.destinations.recheck_every();
            let mut changes = gateway.destinations.access_changes().await;
            loop {
                match changes.as_mut() {
                    Some(changes) => {
                        let _ = tokio::time::timeout(every, changes.changed()).await;
                    }
                    None => tokio::time::sleep(every).await,
                }
                // A database that did not answer closes nothing: asked again next time.
                let allowed = gateway.destinations.access(&id, &session).await;
                if matches!(allowed, Ok(ref access) if *access != ViewAccess::Granted) {
                    tracing::info!(destination = %id, "Closed a WebSocket whose viewer lost access");
                    return;
                }
            }
        };
        tokio::select! {
            _ = async { tokio::join!(inbound, outbound) } => {}
            () = revalidate => {}
        }
    });
    let (mut parts, _) = response.into_parts();
    clean_response_headers(&mut parts.headers, true);
    Ok(Response::from_parts(parts, Body::empty()))
}

/// Sends `request` as it is over `upstream` (a connection to another replica's API, see
/// `burrow_api::forwarded`) and hands back the answer; an upgrade the other side agrees
/// to is then tunnelled both ways, on a task of its own.
pub async fn relay(
    upstream: burrow_sandbox::Connection,
    mut request: Request,
) -> Result<Response, String> {
    let client_upgrade = hyper::upgrade::on(&mut request);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(upstream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.with_upgrades().await;
    });
    let mut response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let upstream_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(async move {
            let (Ok(client), Ok(upstream)) = (client_upgrade.await, upstream_upgrade.await) else {
                return;
            };
            let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
        });
    }
    let (parts, body) = response.into_parts();
    Ok(Response::from_parts(
        parts,
        Body::new(body.map_err(axum::Error::new)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection to a peer that never answers, driven by `drive`'s task.
    async fn opened(affinity: &Affinity) -> Sender {
        let (ours, theirs) = tokio::io::duplex(1024);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(ours))
            .await
            .unwrap();
        affinity
            .drivers
            .send(Box::pin(async move {
                let _ = connection.await;
            }))
            .unwrap();
        // The peer stays open and silent for the test's length.
        std::mem::forget(theirs);
        sender
    }

    #[tokio::test]
    async fn a_viewer_connection_reuses_its_upstream_only_for_the_same_sandbox() {
        drive(|affinity| async move {
            let mut sender = opened(&affinity).await;
            sender.ready().await.unwrap();
            affinity.put("sandbox-a".into(), sender);
            assert!(
                affinity.take("sandbox-b").is_none(),
                "another sandbox never gets this connection"
            );
            assert!(
                affinity.take("sandbox-a").is_none(),
                "asking for another sandbox let the idle one go"
            );
            let mut sender = opened(&affinity).await;
            sender.ready().await.unwrap();
            affinity.put("sandbox-a".into(), sender);
            assert!(affinity.take("sandbox-a").is_some());
            assert!(affinity.take("sandbox-a").is_none(), "taken once");
        })
        .await;
    }
}
