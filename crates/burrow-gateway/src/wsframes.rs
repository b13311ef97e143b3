//! Finds WebSocket frame headers in a byte stream, to tell viewer messages from pings.

/// Follows the frames of one direction of a WebSocket, across reads of any size.
#[derive(Debug, Default)]
pub struct Scanner {
    /// Bytes of a frame header read so far.
    header: Vec<u8>,
    /// Payload bytes of the current frame still to skip.
    skip: u64,
}

impl Scanner {
    /// Consumes `bytes`; true if a data frame (text, binary or continuation) began in them.
    pub fn feed(&mut self, mut bytes: &[u8]) -> bool {
        let mut data = false;
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len() as u64) as usize;
                self.skip -= n as u64;
                bytes = &bytes[n..];
                continue;
            }
            self.header.push(bytes[0]);
            bytes = &bytes[1..];
            if let Some((opcode, payload)) = parse_header(&self.header) {
                data |= matches!(opcode, 0x0..=0x2);
                self.skip = payload;
                self.header.clear();
            }
        }
        data
    }
}

/// `(opcode, payload length)` once `h` holds a whole frame header.
fn parse_header(h: &[u8]) -> Option<(u8, u64)> {
    if h.len() < 2 {
        return None;
    }
    let opcode = h[0] & 0x0f;
    let masked = h[1] & 0x80 != 0;
    let mask = if masked { 4 } else { 0 };
    let (len, ext) = match h[1] & 0x7f {
        126 => {
            if h.len() < 4 {
                return None;
            }
            (u64::from(u16::from_be_bytes([h[2], h[3]])), 2)
        }
        127 => {
            if h.len() < 10 {
                return None;
            }
            (u64::from_be_bytes(h[2..10].try_into().expect("8 bytes")), 8)
        }
        n => (u64::from(n), 0),
    };
    (h.len() >= 2 + ext + mask).then_some((opcode, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x80 | opcode];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n < 65536 => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&[1, 2, 3, 4]);
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn pings_are_not_activity_but_messages_are() {
        let mut s = Scanner::default();
        assert!(!s.feed(&frame(0x9, b"ping")));
        assert!(!s.feed(&frame(0xA, b"")));
        assert!(s.feed(&frame(0x2, &[7; 300])));
        assert!(s.feed(&frame(0x1, &[b'x'; 70_000])));
    }

    #[test]
    fn frames_split_anywhere_are_followed() {
        let mut stream = frame(0x9, b"p");
        stream.extend(frame(0x2, &[0; 200]));
        stream.extend(frame(0xA, b"pong"));
        for cut in 0..stream.len() {
            let mut s = Scanner::default();
            let a = s.feed(&stream[..cut]);
            let b = s.feed(&stream[cut..]);
            assert!(a || b, "cut at {cut}");
            assert!(
                !s.feed(&frame(0x9, b"")),
                "still in step after a cut at {cut}"
            );
        }
    }
}
