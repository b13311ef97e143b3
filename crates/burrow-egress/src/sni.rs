//! The server name a TLS ClientHello asks for, read from the first record a client sends through a tunnel.

use tokio::io::{AsyncRead, AsyncReadExt};

/// TLS records carry at most 16 KiB of plaintext (plus a little for the header).
const MAX_RECORD: usize = 16 * 1024 + 256;

/// Reads the first TLS record from `client`: the bytes read (to pass on) and the SNI
/// host name the ClientHello carries, if any. Anything that is not a ClientHello is an
/// error.
pub async fn read_client_hello<R: AsyncRead + Unpin>(
    client: &mut R,
) -> Result<(Vec<u8>, Option<String>), String> {
    let mut record = vec![0u8; 5];
    client
        .read_exact(&mut record)
        .await
        .map_err(|e| format!("no TLS ClientHello arrived: {e}"))?;
    if record[0] != 22 {
        return Err("the tunnel did not start with a TLS handshake".into());
    }
    let len = usize::from(u16::from_be_bytes([record[3], record[4]]));
    if len > MAX_RECORD {
        return Err("the TLS record is too long".into());
    }
    record.resize(5 + len, 0);
    client
        .read_exact(&mut record[5..])
        .await
        .map_err(|e| format!("the TLS ClientHello was cut short: {e}"))?;
    let sni = server_name(&record[5..]).ok_or("the TLS ClientHello is malformed")?;
    Ok((record, sni))
}

/// The SNI host name in a handshake message holding a ClientHello; `Some(None)` when it
/// has none, `None` when the message is malformed.
fn server_name(handshake: &[u8]) -> Option<Option<String>> {
    let mut r = Reader(handshake);
    if r.u8()? != 1 {
        return None;
    }
    let body_len = r.u24()?;
    let mut r = Reader(r.take(body_len)?);
    r.take(2 + 32)?; // version, random
    let session = r.u8()? as usize;
    r.take(session)?;
    let suites = r.u16()? as usize;
    r.take(suites)?;
    let compression = r.u8()? as usize;
    r.take(compression)?;
    if r.0.is_empty() {
        return Some(None);
    }
    let ext_len = r.u16()? as usize;
    let mut exts = Reader(r.take(ext_len)?);
    while !exts.0.is_empty() {
        let kind = exts.u16()?;
        let len = exts.u16()? as usize;
        let data = exts.take(len)?;
        if kind == 0 {
            let mut list = Reader(data);
            let list_len = list.u16()? as usize;
            let mut names = Reader(list.take(list_len)?);
            while !names.0.is_empty() {
                let name_type = names.u8()?;
                let name_len = names.u16()? as usize;
                let name = names.take(name_len)?;
                if name_type == 0 {
                    let name = std::str::from_utf8(name).ok()?;
                    return Some(Some(name.to_ascii_lowercase()));
                }
            }
            return Some(None);
        }
    }
    Some(None)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u24(&mut self) -> Option<usize> {
        let b = self.take(3)?;
        Some((usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(sni: Option<&str>) -> Vec<u8> {
        let mut exts = Vec::new();
        if let Some(name) = sni {
            let mut entry = vec![0u8];
            entry.extend((name.len() as u16).to_be_bytes());
            entry.extend(name.as_bytes());
            let mut list = (entry.len() as u16).to_be_bytes().to_vec();
            list.extend(entry);
            exts.extend(0u16.to_be_bytes());
            exts.extend((list.len() as u16).to_be_bytes());
            exts.extend(list);
        }
        // supported_versions, after SNI, to show other extensions are skipped.
        exts.extend([0, 43, 0, 3, 2, 3, 4]);
        let mut body = vec![3, 3];
        body.extend([7u8; 32]);
        body.push(0);
        body.extend([0, 2, 0x13, 0x01]);
        body.extend([1, 0]);
        body.extend((exts.len() as u16).to_be_bytes());
        body.extend(exts);
        let mut hs = vec![1];
        hs.extend(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend(body);
        let mut rec = vec![22, 3, 1];
        rec.extend((hs.len() as u16).to_be_bytes());
        rec.extend(hs);
        rec
    }

    #[tokio::test]
    async fn reads_the_server_name() {
        let bytes = hello(Some("Example.com"));
        let (read, sni) = read_client_hello(&mut bytes.as_slice()).await.unwrap();
        assert_eq!(read, bytes);
        assert_eq!(sni.as_deref(), Some("example.com"));
        let none = hello(None);
        assert_eq!(
            read_client_hello(&mut none.as_slice()).await.unwrap().1,
            None
        );
    }

    #[tokio::test]
    async fn refuses_what_is_not_a_client_hello() {
        assert!(read_client_hello(&mut &b"GET / HTTP/1.1\r\n\r\n"[..])
            .await
            .is_err());
        let mut cut = hello(Some("example.com"));
        cut.truncate(20);
        assert!(read_client_hello(&mut cut.as_slice()).await.is_err());
        let mut lying = hello(Some("example.com"));
        lying[6] = 0xff; // the handshake claims more than the record holds
        assert!(read_client_hello(&mut lying.as_slice()).await.is_err());
    }
}
