//! Throttling and server errors are retried with backoff. A proxy in front of the test server
//! answers the first connections with `503 SlowDown` and passes later ones through.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ocfl_object_store::Error;

use crate::support::{builder, endpoint, new_bucket};

const SLOW_DOWN_BODY: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>\
    <Message>Please reduce your request rate.</Message></Error>";

fn slow_down() -> String {
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n{SLOW_DOWN_BODY}",
        SLOW_DOWN_BODY.len()
    )
}

/// Starts the proxy to `upstream` (`host:port`); returns its endpoint and the count of
/// connections it refused so far.
fn throttling_proxy(upstream: String, throttled: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let refused = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&refused);
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            if counter.load(Ordering::SeqCst) < throttled {
                counter.fetch_add(1, Ordering::SeqCst);
                // Read the request head so that the client sees an answer, not a reset.
                let mut head = [0u8; 4096];
                let _ = client.set_read_timeout(Some(Duration::from_millis(200)));
                let _ = client.read(&mut head);
                let _ = client.write_all(slow_down().as_bytes());
                let _ = client.shutdown(Shutdown::Both);
                continue;
            }
            let Ok(server) = TcpStream::connect(&upstream) else {
                return;
            };
            pipe(client, server);
        }
    });
    (format!("http://{address}"), refused)
}

fn pipe(client: TcpStream, server: TcpStream) {
    let (Ok(mut client_in), Ok(mut server_in)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let (mut client_out, mut server_out) = (client, server);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut server_out);
        let _ = server_out.shutdown(Shutdown::Write);
    });
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut server_in, &mut client_out);
        let _ = client_out.shutdown(Shutdown::Write);
    });
}

#[test]
fn throttling_is_retried_and_named_when_retries_run_out() {
    let Some(endpoint) = endpoint("throttling") else {
        return;
    };
    let bucket = new_bucket(&endpoint);
    let upstream = endpoint
        .strip_prefix("http://")
        .expect("an http test endpoint")
        .to_owned();

    let (proxy, refused) = throttling_proxy(upstream.clone(), 2);
    let s3 = builder(&proxy, &bucket, "root")
        .retries(5, Duration::from_secs(30))
        .build()
        .expect("store");
    s3.put("k", b"after two throttles".to_vec())
        .expect("retried until the server took it");
    assert_eq!(refused.load(Ordering::SeqCst), 2);
    assert_eq!(s3.read("k").expect("read"), b"after two throttles");

    let (proxy, _) = throttling_proxy(upstream, usize::MAX);
    let s3 = builder(&proxy, &bucket, "root")
        .retries(1, Duration::from_secs(30))
        .build()
        .expect("store");
    let error = s3.read("k").expect_err("throttled beyond the retries");
    assert!(matches!(error, Error::Request { .. }), "{error}");
    assert_eq!(error.server_code(), Some("SlowDown"), "{error}");
    assert!(
        error.to_string().contains(&format!("s3://{bucket}/root/k")),
        "{error}"
    );
}
