//! A private certificate authority and a server certificate it signed, for TLS test servers
//! (the S3 tests' moto over https, `cargo xtask`'s local S3 server). Made with the `openssl`
//! command, so that no TLS library is built into every test binary.

use std::io;
use std::path::Path;
use std::process::Command;

/// Writes, in `dir`, an authority named `authority` (`ca.pem`, `ca.key`) and a server
/// certificate it signed for `localhost` and `127.0.0.1` (`server.pem`, `server.key`), each
/// valid for `days` days.
///
/// # Errors
///
/// When `openssl` cannot be run or fails (its error output is in the message), or a file
/// cannot be written.
pub fn make_certificates(dir: &Path, authority: &str, days: u32) -> io::Result<()> {
    let days = days.to_string();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            &days,
            "-subj",
            &format!("/CN={authority}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    )?;
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    )?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            &days,
            "-extfile",
            "server.ext",
        ],
    )
}

fn openssl(dir: &Path, args: &[&str]) -> io::Result<()> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("running openssl: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_certificate_is_signed_by_the_authority_for_localhost() {
        let dir = std::env::temp_dir().join(format!("test-support-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        make_certificates(&dir, "test authority", 2).expect("certificates");
        let verify = |args: &[&str]| {
            Command::new("openssl")
                .args(["verify", "-CAfile", "ca.pem"])
                .args(args)
                .arg("server.pem")
                .current_dir(&dir)
                .output()
                .expect("openssl verify")
                .status
                .success()
        };
        let trusted = verify(&["-verify_ip", "127.0.0.1"]);
        let named = verify(&["-verify_hostname", "localhost"]);
        let other = verify(&["-verify_hostname", "example.org"]);
        std::fs::remove_dir_all(&dir).expect("clean up");
        assert!(trusted && named, "the server certificate is not trusted");
        assert!(!other, "the certificate is good for any name");
    }
}
