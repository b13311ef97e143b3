//! The test internet, reached from this host: its web servers, its DNS zone and its canary.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use burrow_testkit::internet::TestInternet;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[test]
fn the_fixture_is_one_namespace_from_sync_code() {
    let internet = TestInternet::get();
    assert!(std::ptr::eq(internet, TestInternet::get()));
    let [a, b, c, _] = internet.host.octets();
    assert_eq!([a, b, c], [203, 0, 113]);
    assert_eq!(u32::from(internet.gateway) + 1, u32::from(internet.host));
    assert!(internet.dns.ip().is_loopback());
    let namespace = format!("/var/run/netns/burrow-inet-{}", std::process::id());
    assert!(std::path::Path::new(&namespace).exists(), "{namespace}");
}

#[tokio::test]
async fn http_hello_names_the_host_asked_for() {
    let internet = TestInternet::get();
    let host = internet.host;
    let body = client()
        .get(format!("http://{host}/hello"))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, format!("hello from the test internet via {host}"));

    let response = client()
        .get(format!("http://{host}:8080/hello"))
        .header("host", "www.site.test:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/plain");
    assert_eq!(
        response.text().await.unwrap(),
        "hello from the test internet via www.site.test:8080"
    );
}

#[tokio::test]
async fn http_bytes_redirect_echo_and_not_found() {
    let host = TestInternet::get().host;
    let response = client()
        .get(format!("http://{host}/bytes/1000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-length"], "1000000");
    assert_eq!(response.bytes().await.unwrap().len(), 1_000_000);

    let redirect = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("http://{host}/redirect"))
        .send()
        .await
        .unwrap();
    assert_eq!(redirect.status(), 302);
    assert_eq!(
        redirect.headers()["location"],
        "http://169.254.169.254/latest/meta-data/"
    );

    let echo = client()
        .post(format!("http://{host}/echo"))
        .body("ping over the test internet")
        .send()
        .await
        .unwrap();
    assert_eq!(echo.status(), 200);
    assert_eq!(echo.text().await.unwrap(), "ping over the test internet");

    for path in ["/nowhere", "/bytes/many"] {
        let missing = client()
            .get(format!("http://{host}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404, "{path}");
    }
}

/// `GET /hello` over TLS, trusting only the fixture's certificate, as `server_name`.
async fn https_hello(server_name: &str) -> std::io::Result<String> {
    let internet = TestInternet::get();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(internet.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect((internet.host, 443)).await?;
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(
        format!("GET /hello HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .await?;
    let mut response = String::new();
    tls.read_to_string(&mut response).await?;
    Ok(response)
}

#[tokio::test]
async fn https_presents_the_certificate_for_the_test_names() {
    let response = https_hello("site.test").await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response.ends_with("\r\n\r\nhello from the test internet via site.test"),
        "{response}"
    );
    let host = TestInternet::get().host.to_string();
    for name in ["www.site.test", "other.test", &host] {
        let response = https_hello(name).await.unwrap();
        assert!(
            response.starts_with("HTTP/1.1 200 OK\r\n"),
            "{name}: {response}"
        );
    }
    let refused = https_hello("elsewhere.test").await.unwrap_err();
    assert!(refused.to_string().contains("certificate"), "{refused}");
}

/// Asks the fixture's DNS server over UDP.
async fn ask(name: &str, kind: RecordType) -> Message {
    let mut query = Message::new();
    query
        .set_id(next_id())
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    socket
        .send_to(&query.to_vec().unwrap(), TestInternet::get().dns)
        .await
        .unwrap();
    let mut buf = vec![0; 4096];
    let len = tokio::time::timeout(Duration::from_secs(5), socket.recv(&mut buf))
        .await
        .expect("the DNS server answers")
        .unwrap();
    let reply = Message::from_vec(&buf[..len]).unwrap();
    assert_eq!(reply.id(), query.id());
    assert_eq!(reply.message_type(), MessageType::Response);
    reply
}

fn next_id() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn addrs(reply: &Message) -> Vec<IpAddr> {
    reply
        .answers()
        .iter()
        .filter_map(|record| record.data().ip_addr())
        .collect()
}

#[tokio::test]
async fn dns_answers_the_test_zone() {
    let internet = TestInternet::get();
    let host = IpAddr::V4(internet.host);
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let before = internet.dns_queries();

    let site = ask("Site.Test.", RecordType::A).await;
    assert_eq!(site.response_code(), ResponseCode::NoError);
    assert_eq!(addrs(&site), [host]);
    assert_eq!(site.answers()[0].ttl(), 60);
    assert_eq!(addrs(&ask("a.b.site.test.", RecordType::A).await), [host]);

    let no_aaaa = ask("site.test.", RecordType::AAAA).await;
    assert_eq!(no_aaaa.response_code(), ResponseCode::NoError);
    assert!(no_aaaa.answers().is_empty());

    let mixed = ask("mixed.test.", RecordType::A).await;
    assert_eq!(addrs(&mixed), [host, loopback]);
    assert!(mixed.answers().iter().all(|record| record.ttl() == 0));

    assert_eq!(
        addrs(&ask("metadata.test.", RecordType::A).await),
        [IpAddr::from([169, 254, 169, 254])]
    );
    assert_eq!(
        addrs(&ask("gateway.test.", RecordType::A).await),
        [IpAddr::V4(internet.gateway)]
    );
    assert_eq!(
        addrs(&ask("mapped.test.", RecordType::AAAA).await),
        [Ipv4Addr::LOCALHOST.to_ipv6_mapped()]
    );
    assert_eq!(
        addrs(&ask("v6only.test.", RecordType::AAAA).await),
        ["64:ff9b::7f00:1".parse::<IpAddr>().unwrap()]
    );

    let unknown = ask("nowhere.test.", RecordType::A).await;
    assert_eq!(unknown.response_code(), ResponseCode::NXDomain);
    assert!(unknown.answers().is_empty());

    assert!(internet.dns_queries() >= before + 9);
    let names = internet.dns_names();
    for name in ["site.test", "a.b.site.test", "nowhere.test", "v6only.test"] {
        assert!(
            names.iter().any(|asked| asked == name),
            "{name} in {names:?}"
        );
    }
    assert!(!names.iter().any(|asked| asked == "never-asked.test"));
}

#[tokio::test]
async fn dns_rebinding_alternates_between_the_host_and_loopback() {
    let internet = TestInternet::get();
    let host = IpAddr::V4(internet.host);
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    // Only this test asks for rebind.test in this binary.
    let before = internet.rebind_queries();
    for n in before + 1..=before + 4 {
        let expected = if n % 2 == 1 { host } else { loopback };
        assert_eq!(
            addrs(&ask("rebind.test.", RecordType::A).await),
            [expected],
            "query {n}"
        );
    }
    assert_eq!(internet.rebind_queries(), before + 4);
    // Other types neither answer nor count.
    assert!(ask("rebind.test.", RecordType::AAAA)
        .await
        .answers()
        .is_empty());
    assert_eq!(internet.rebind_queries(), before + 4);
}

#[tokio::test]
async fn dns_answers_over_tcp() {
    let internet = TestInternet::get();
    let mut query = Message::new();
    query
        .set_id(7)
        .set_message_type(MessageType::Query)
        .add_query(Query::query(
            Name::from_ascii("other.test.").unwrap(),
            RecordType::A,
        ));
    let query = query.to_vec().unwrap();
    let mut stream = TcpStream::connect(internet.dns).await.unwrap();
    // Two messages on one connection.
    for _ in 0..2 {
        stream
            .write_all(&(query.len() as u16).to_be_bytes())
            .await
            .unwrap();
        stream.write_all(&query).await.unwrap();
        let len = stream.read_u16().await.unwrap();
        let mut reply = vec![0; len.into()];
        stream.read_exact(&mut reply).await.unwrap();
        let reply = Message::from_vec(&reply).unwrap();
        assert_eq!(reply.id(), 7);
        assert_eq!(addrs(&reply), [IpAddr::V4(internet.host)]);
    }
}

#[tokio::test]
async fn connections_to_this_host_hit_the_canary() {
    let internet = TestInternet::get();
    for addr in [
        SocketAddr::from((Ipv4Addr::LOCALHOST, 80)),
        SocketAddr::from((Ipv4Addr::LOCALHOST, 443)),
        SocketAddr::from((internet.gateway, 80)),
    ] {
        let before = internet.canary_hits();
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // The canary counts, then closes.
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        while internet.canary_hits() <= before {
            assert!(Instant::now() < deadline, "{addr} was not counted");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
