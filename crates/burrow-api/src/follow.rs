//! Following a log as Server-Sent Events: one loop for every log a client can follow.
//!
//! A [`LogSource`] reads what follows a cursor; [`sse`] turns it into `log` events with
//! the text as it comes, waiting while the source is idle (for a `log` event from the
//! replica that writes it, where the source has one, else a pause), and one `end` event
//! (with the outcome) or `error` event when it is over.

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

    /// Waits until more may have come, or `idle` passes: by default, `idle`.
    fn changed(&self, idle: Duration) -> impl std::future::Future<Output = ()> + Send {
        tokio::time::sleep(idle)
    }
}

/// Follows `source` from `start` (nothing at all when `None`: the stream ends at once
/// with `end`/`stopped`), waiting on [`LogSource::changed`] (at most `idle`) while it
/// has nothing new; or, when `idle`
/// is `None`, ending at the first pause with `end`/`live`: what is there so far, unfollowed.
pub fn sse<S: LogSource>(
    source: S,
    start: Option<S::Cursor>,
    idle: Option<Duration>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let source = std::sync::Arc::new(source);
    let state = Some(match start {
        Some(cursor) => Follow::At(cursor, Vec::new()),
        None => Follow::Ended("stopped".into()),
    });
    let stream = futures::stream::unfold(state, move |state| {
        let source = std::sync::Arc::clone(&source);
        async move {
            let (mut cursor, mut held) = match state? {
                Follow::At(cursor, held) => (cursor, held),
                Follow::Ended(outcome) => {
                    return Some((Ok(Event::default().event("end").data(outcome)), None))
                }
            };
            loop {
                match source.read(cursor).await {
                    Piece::Data(bytes, next) => {
                        held.extend_from_slice(&bytes);
                        let (text, rest) = split_utf8(held);
                        if text.is_empty() {
                            // Only the start of a character so far: read on.
                            cursor = next;
                            held = rest;
                            continue;
                        }
                        let event = Event::default().event("log").data(text);
                        return Some((Ok(event), Some(Follow::At(next, rest))));
                    }
                    Piece::Idle(same) => {
                        let Some(idle) = idle else {
                            return Some((Ok(Event::default().event("end").data("live")), None));
                        };
                        cursor = same;
                        source.changed(idle).await;
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

/// Where the follow is: a cursor and the bytes of a character that a read cut in two,
/// held until the rest comes; or over.
enum Follow<C> {
    At(C, Vec<u8>),
    Ended(String),
}

/// Text up to the last whole character, and the bytes of a character cut short at the
/// end (at most 3). Invalid bytes elsewhere become U+FFFD as before.
fn split_utf8(mut bytes: Vec<u8>) -> (String, Vec<u8>) {
    let cut = match std::str::from_utf8(&bytes) {
        Ok(_) => bytes.len(),
        // `error_len` is None only when the input ends inside a character.
        Err(e) if e.error_len().is_none() && bytes.len() - e.valid_up_to() <= 3 => e.valid_up_to(),
        Err(_) => {
            // Invalid somewhere: find a cut-short character at the very end, if any.
            let tail_start = bytes.len().saturating_sub(3);
            (tail_start..bytes.len())
                .find(|&i| {
                    std::str::from_utf8(&bytes[i..])
                        .err()
                        .is_some_and(|e| e.valid_up_to() == 0 && e.error_len().is_none())
                })
                .unwrap_or(bytes.len())
        }
    };
    let rest = bytes.split_off(cut);
    (String::from_utf8_lossy(&bytes).into_owned(), rest)
}

#[cfg(test)]
mod tests {
    use super::split_utf8;

    #[test]
    fn a_character_cut_in_two_waits_for_its_rest() {
        let hedgehog = "🦔".as_bytes();
        let (text, rest) = split_utf8([b"ok ".as_slice(), &hedgehog[..2]].concat());
        assert_eq!((text.as_str(), rest.as_slice()), ("ok ", &hedgehog[..2]));
        let (text, rest) = split_utf8([rest.as_slice(), &hedgehog[2..]].concat());
        assert_eq!((text.as_str(), rest.len()), ("🦔", 0));
        // Invalid bytes in the middle are shown replaced; a cut-short tail is still held.
        let (text, rest) = split_utf8([b"a\xffb".as_slice(), &hedgehog[..1]].concat());
        assert_eq!(
            (text.as_str(), rest.as_slice()),
            ("a\u{fffd}b", &hedgehog[..1])
        );
    }
}
