//! Following a log as Server-Sent Events: one loop for every log a client can follow.
//!
//! A [`LogSource`] reads what follows a cursor; [`sse`] turns it into `log` events with
//! the text as it comes, polling while the source is idle, and one `end` event (with
//! the outcome) or `error` event when it is over.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;

/// What a read of a log found after a cursor.
#[derive(Debug)]
pub enum Piece<C> {
    /// Bytes, and the cursor after them.
    Data(Vec<u8>, C),
    /// Nothing new yet; more may come.
    Idle(C),
    /// Nothing more will come; the outcome, such as `succeeded` or `stopped`.
    End(String),
    /// The log cannot be read; why.
    Failed(String),
}

/// A log that can be read from a cursor on.
pub trait LogSource: Send + Sync + 'static {
    type Cursor: Send + 'static;
    fn read(
        &self,
        cursor: Self::Cursor,
    ) -> impl std::future::Future<Output = Piece<Self::Cursor>> + Send;
}

/// Follows `source` from `start` (nothing at all when `None`: the stream ends at once
/// with `end`/`stopped`), polling every `idle` while it has nothing new; or, when `idle`
/// is `None`, ending at the first pause with `end`/`live`: what is there so far, unfollowed.
pub fn sse<S: LogSource>(
    source: S,
    start: Option<S::Cursor>,
    idle: Option<Duration>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let source = std::sync::Arc::new(source);
    let state = Some(match start {
        Some(cursor) => Follow::At(cursor),
        None => Follow::Ended("stopped".into()),
    });
    let stream = futures::stream::unfold(state, move |state| {
        let source = std::sync::Arc::clone(&source);
        async move {
            let mut cursor = match state? {
                Follow::At(cursor) => cursor,
                Follow::Ended(outcome) => {
                    return Some((Ok(Event::default().event("end").data(outcome)), None))
                }
            };
            loop {
                match source.read(cursor).await {
                    Piece::Data(bytes, next) => {
                        let event = Event::default()
                            .event("log")
                            .data(&*String::from_utf8_lossy(&bytes));
                        return Some((Ok(event), Some(Follow::At(next))));
                    }
                    Piece::Idle(same) => {
                        let Some(idle) = idle else {
                            return Some((Ok(Event::default().event("end").data("live")), None));
                        };
                        cursor = same;
                        tokio::time::sleep(idle).await;
                    }
                    Piece::End(outcome) => {
                        return Some((Ok(Event::default().event("end").data(outcome)), None))
                    }
                    Piece::Failed(why) => {
                        return Some((Ok(Event::default().event("error").data(why)), None))
                    }
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

enum Follow<C> {
    At(C),
    Ended(String),
}
