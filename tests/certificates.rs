//! The certificate authorities are read when a fetch needs them, not at start
//! (`src/certificates.rs`): a `check` never opens `SSL_CERT_FILE`, and the server's fetch over
//! HTTPS still verifies the git host against it. The HTTPS host is a TLS front, on loopback,
//! for `app_common`'s git server, with a certificate signed by a certificate authority made here.

mod app_common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use app_common::*;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509, X509NameBuilder};

fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

/// A certificate for `common_name`, signed by `issuer` (itself when `None`: a certificate
/// authority).
fn certificate(
    common_name: &str,
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, common_name)
        .unwrap();
    let name = name.build();
    let mut builder = X509::builder().unwrap();
    builder.set_version(2).unwrap();
    let serial = BigNum::from_u32(if issuer.is_some() { 2 } else { 1 })
        .unwrap()
        .to_asn1_integer()
        .unwrap();
    builder.set_serial_number(&serial).unwrap();
    builder.set_subject_name(&name).unwrap();
    builder.set_pubkey(key).unwrap();
    builder
        .set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    builder
        .set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    match issuer {
        None => {
            builder.set_issuer_name(&name).unwrap();
            let ca = BasicConstraints::new().critical().ca().build().unwrap();
            builder.append_extension(ca).unwrap();
            let usage = KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()
                .unwrap();
            builder.append_extension(usage).unwrap();
            builder.sign(key, MessageDigest::sha256()).unwrap();
        }
        Some((ca, ca_key)) => {
            builder.set_issuer_name(ca.subject_name()).unwrap();
            let san = SubjectAlternativeName::new()
                .ip(common_name)
                .build(&builder.x509v3_context(Some(ca), None))
                .unwrap();
            builder.append_extension(san).unwrap();
            let usage = KeyUsage::new()
                .critical()
                .digital_signature()
                .build()
                .unwrap();
            builder.append_extension(usage).unwrap();
            let server = ExtendedKeyUsage::new().server_auth().build().unwrap();
            builder.append_extension(server).unwrap();
            builder.sign(ca_key, MessageDigest::sha256()).unwrap();
        }
    }
    builder.build()
}

/// A certificate authority written as a PEM bundle to `path`; returns it with its key.
fn authority(path: &Path, name: &str) -> (X509, PKey<Private>) {
    let key = key();
    let ca = certificate(name, &key, None);
    std::fs::write(path, ca.to_pem().unwrap()).unwrap();
    (ca, key)
}

/// Terminates TLS on a loopback port for `backend` (plain HTTP), with a certificate for
/// 127.0.0.1 signed by `ca`; returns `https://127.0.0.1:<port>`.
async fn tls_front(backend: &str, ca: &(X509, PKey<Private>)) -> String {
    let key = key();
    let leaf = certificate("127.0.0.1", &key, Some((&ca.0, &ca.1)));
    let identity = native_tls::Identity::from_pkcs8(
        &leaf.to_pem().unwrap(),
        &key.private_key_to_pem_pkcs8().unwrap(),
    )
    .unwrap();
    let acceptor =
        tokio_native_tls::TlsAcceptor::from(native_tls::TlsAcceptor::new(identity).unwrap());
    let backend: SocketAddr = backend.trim_start_matches("http://").parse().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to relay.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    url
}

/// Starts a server (its own data directory) whose `SSL_CERT_FILE` is `bundle` and whose git host
/// is `git_url`, opens pull request `number` (base, head, branch) cloned from there, and returns
/// the server with the completed check run.
async fn check_over(
    w: &World,
    git_url: &str,
    bundle: &Path,
    (number, base, head, branch): (u64, &str, &str, &str),
) -> (Server, CheckRun) {
    let data_dir = w.tmp.path().join(format!("data-{number}"));
    let env = [
        ("CLOBBERCHECK_GIT_URL", git_url),
        ("SSL_CERT_FILE", bundle.to_str().unwrap()),
    ];
    let server = Server::start(&w.fake, &w.keys, &data_dir, &env).await;
    let mut spec = w.spec(number, base, head, branch);
    spec.clone_url = format!("{git_url}/git/{REPO}.git");
    let delivery = format!("d-https-{number}");
    let (status, _) = server
        .deliver("pull_request", &delivery, &pr_payload("opened", &spec))
        .await;
    assert_eq!(status, 202);
    let run = w.fake.completed(head).await;
    (server, run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fetch_over_https_verifies_the_git_host_against_ssl_cert_file() {
    let w = World::new().await;
    let trusted = w.tmp.path().join("trusted-ca.pem");
    let other = w.tmp.path().join("other-ca.pem");
    let ca = authority(&trusted, "clobbercheck test CA");
    authority(&other, "another test CA");
    let git_url = tls_front(&w.fake.url, &ca).await;
    let (base, head) = w.clean();

    // SSL_CERT_FILE names the authority that signed the git host's certificate: the fetch,
    // the first of the process, loads it and the check runs.
    let (server, run) = check_over(&w, &git_url, &trusted, (2, &base, &head, "add-app02")).await;
    assert_eq!(
        run.conclusion.as_deref(),
        Some("success"),
        "{}\n{}",
        run.summary,
        server.log()
    );
    assert!(
        w.fake.count("GET", "/info/refs") >= 1,
        "fetched through the TLS front"
    );
    drop(server);

    // Another authority: the host's certificate does not verify and the check says so.
    let head2 = w.clean_head(&base, "other-ca", "other CA");
    let (server, run) = check_over(&w, &git_url, &other, (3, &base, &head2, "other-ca")).await;
    assert_eq!(run.title, "clobbercheck could not run", "{}", server.log());
    let log = server.log();
    assert!(
        log.lines()
            .any(|l| l.contains("fetching") && l.contains("certificate")),
        "{log}"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_check_never_opens_the_certificate_bundle() {
    // A FIFO nobody writes to: opening it for reading blocks, so a check that read the bundle at
    // start (libgit2's own start-up) would never finish.
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("bundle.pem");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let repo = Repo::new(tmp.path(), &tmp.path().join("git"), "acme/gitops");
    let files = files_of(&root().join("examples/incident/base"));
    let base = repo.commit(None, "main", &files);
    let head = repo.commit(
        Some(&base),
        "app02",
        &files_of(&root().join("examples/incident/head")),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_clobbercheck"))
        .args([
            "check", "--base", &base, "--head", &head, "--format", "json", "--repo",
        ])
        .arg(&repo.work)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SSL_CERT_FILE", &fifo)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the check did not finish in 60 s: it opened SSL_CERT_FILE at start");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The incident: one finding, exit code 1.
    assert_eq!(status.code(), Some(1), "{status}");
}
