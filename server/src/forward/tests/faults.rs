//! Downstream faults: timeouts, refused connections, broken and oversized answers.

use super::*;

#[tokio::test]
async fn slow_downstream_times_out_and_is_not_retried() {
    let (count, addr) = raw_server(|s| async move {
        let _open = s;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let f = Forwarder::new();
    let mut c = connector(&format!("http://{addr}"), AuthStyle::None, None);
    c.connect_timeout_ms = 200;
    c.timeout_ms = 300;
    let t0 = std::time::Instant::now();
    let e = f.send(&c, get("/slow"), None).await.expect_err("timeout");
    assert!(matches!(e, ForwardError::Timeout { .. }), "{e}");
    assert_eq!(e.outcome(), Outcome::Unknown);
    assert_eq!(e.kind(), ErrorKind::DownstreamTimeout);
    assert!(t0.elapsed() < Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(count.load(Ordering::SeqCst), 1, "the request was retried");
    assert_eq!(f.attempts(), 1);
}

#[tokio::test]
async fn refused_connection_is_retried_once_then_not_sent() {
    // A bound socket that never listens: the port stays reserved for this test (no other test
    // can start a server on it) and every connect is refused.
    let reserved = tokio::net::TcpSocket::new_v4().expect("socket");
    reserved
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let port = reserved.local_addr().expect("addr").port();
    let f = Forwarder::new();
    let mut req = get("/x");
    req.idempotency_key = Some("permit-1".into());
    let e = f
        .send(
            &connector(&format!("http://127.0.0.1:{port}"), AuthStyle::None, None),
            req,
            None,
        )
        .await
        .expect_err("refused");
    assert!(matches!(e, ForwardError::NotSent { .. }), "{e}");
    assert!(e.detail().contains("refused (2 attempts)"), "{e}");
    assert_eq!(e.outcome(), Outcome::NotForwarded);
    assert_eq!(e.kind(), ErrorKind::DownstreamError);
    assert_eq!(f.attempts(), 2);
}

#[tokio::test]
async fn reset_mid_response_is_broken() {
    let (count, addr) = raw_server(|mut s| async move {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Le").await;
        let _ = s.shutdown().await;
    })
    .await;
    let f = Forwarder::new();
    let c = connector(&format!("http://{addr}"), AuthStyle::None, None);
    let e = f.send(&c, get("/x"), None).await.expect_err("broken");
    assert!(matches!(e, ForwardError::Broken { .. }), "{e}");
    assert_eq!(e.outcome(), Outcome::Unknown);
    assert_eq!(e.kind(), ErrorKind::DownstreamError);
    assert_eq!(count.load(Ordering::SeqCst), 1, "retried after sending");
    assert_eq!(f.attempts(), 1);
}

#[tokio::test]
async fn stalled_body_after_headers_times_out() {
    let (count, addr) = raw_server(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\":")
            .await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let f = Forwarder::new();
    let mut c = connector(&format!("http://{addr}"), AuthStyle::None, None);
    c.timeout_ms = 300;
    c.connect_timeout_ms = 200;
    let e = f.send(&c, get("/x"), None).await.expect_err("timeout");
    assert!(matches!(e, ForwardError::Timeout { .. }), "{e}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert_eq!(f.attempts(), 1);
}

#[tokio::test]
async fn truncated_body_is_broken() {
    let (_count, addr) = raw_server(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\":")
            .await;
        let _ = s.shutdown().await;
    })
    .await;
    let c = connector(&format!("http://{addr}"), AuthStyle::None, None);
    let e = Forwarder::new()
        .send(&c, get("/x"), None)
        .await
        .expect_err("broken");
    assert!(matches!(e, ForwardError::Broken { .. }), "{e}");
}

#[tokio::test]
async fn oversized_response_is_broken() {
    let (_d, base) = downstream().await;
    let e = Forwarder::new()
        .send(&connector(&base, AuthStyle::None, None), get("/big"), None)
        .await
        .expect_err("too large");
    assert!(matches!(e, ForwardError::Broken { .. }));
    assert!(e.detail().contains("response too large"), "{e}");
}
