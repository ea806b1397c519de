//! An https server whose certificate a private authority signed: trusted through the CA
//! bundle, refused without it. The test starts its own moto over TLS, so it runs wherever the
//! S3 tests run (moto installed, `OCFL_TEST_S3_ENDPOINT` set) and needs `openssl`.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ocfl_core::location::S3Location;
use ocfl_object_store::{Error, S3Builder};

use crate::support::endpoint;

/// The server process, stopped when the test ends however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_tls_server(dir: &Path) -> (Server, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new("moto_server")
        .args([
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-c",
            "server.pem",
            "-k",
            "server.key",
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server runs (OCFL_TEST_S3_ENDPOINT is set, so moto is installed)");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto over TLS did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (server, port)
}

#[test]
fn a_private_certificate_authority_is_trusted_through_the_ca_bundle() {
    if endpoint("private_ca").is_none() {
        return;
    }
    let temp = tempfile::tempdir().expect("tempdir");
    test_support::tls::make_certificates(temp.path(), "ocfl test authority", 2)
        .expect("certificates (openssl)");
    let (_server, port) = start_tls_server(temp.path());
    let https = format!("https://127.0.0.1:{port}");
    let ca = std::fs::read(temp.path().join("ca.pem")).expect("ca.pem");
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("PEM"))
        .build()
        .expect("client");
    let status = client
        .put(format!("{https}/ocfl-tls-test"))
        .send()
        .expect("create bucket over TLS")
        .status();
    assert!(status.is_success(), "{status}");

    let builder = S3Builder::new(S3Location::new("ocfl-tls-test", "root").expect("valid"))
        .endpoint(&https)
        .credentials("ocfl-test", "ocfl-test-secret", None)
        .retries(0, Duration::from_secs(10));

    let trusted = builder
        .clone()
        .ca_bundle(temp.path().join("ca.pem"))
        .build()
        .expect("store");
    trusted
        .put("k", b"over TLS".to_vec())
        .expect("put over TLS");
    assert_eq!(trusted.read("k").expect("read over TLS"), b"over TLS");

    let untrusted = builder.build().expect("store");
    let error = untrusted.read("k").expect_err("an unknown authority");
    assert!(matches!(error, Error::Request { .. }), "{error}");
    assert!(
        error.to_string().contains("s3://ocfl-tls-test/root/k"),
        "{error}"
    );

    let not_pem = temp.path().join("server.csr.txt");
    std::fs::write(&not_pem, "not a certificate").expect("write");
    let builder = S3Builder::new(S3Location::new("ocfl-tls-test", "root").expect("valid"))
        .endpoint(&https)
        .ca_bundle(&not_pem);
    let error = builder.build().expect_err("no certificate in the bundle");
    assert!(matches!(error, Error::Config { .. }), "{error}");
    assert!(error.to_string().contains("server.csr.txt"), "{error}");
}
