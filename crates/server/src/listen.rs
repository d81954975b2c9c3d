//! Serving connections: the accept loop under [`crate::run`], with the limits a server facing the network needs.
//!
//! - **Connection cap** ([`ServerConfig::max_connections`]): beyond it a new connection is answered 503 with a
//!   SCIM error and `Retry-After: 1` and closed, so idle sockets cannot starve the clients that work.
//! - **Header and idle timeout** ([`ServerConfig::header_timeout`]): hyper's header-read timer runs from the
//!   moment a connection waits for a request (new, or idle between keep-alive requests) until the request's
//!   header section is complete; a client that sends nothing, or sends a header slowly, is disconnected. A TLS
//!   handshake gets the same time.
//! - **TLS** ([`Tls`]): rustls with the aws-lc-rs provider, HTTP/1.1 by ALPN, from PEM files.
//! - **hyper's own errors as SCIM errors**: a request that hyper refuses before any handler runs (a request
//!   target over 64 KiB: 414; a header section too large: 431; malformed HTTP: 400) is answered by hyper with an
//!   empty body. [`ErrorBodies`] recognises that response on its way out (a 4xx/505 head without a
//!   `content-type`, which no response of roster's lacks) and writes a SCIM error body in its place.
//!
//! In-flight requests finish on shutdown; idle keep-alive connections are closed at once.

use crate::ServerConfig;
use crate::edge::Peer;
use crate::error::error_body_bytes;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use roster_scim::{ErrorKind, ScimError};
use std::future::Future;
use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tower::ServiceExt;

/// A TLS server identity: a certificate chain and its private key.
#[derive(Clone)]
pub struct Tls(TlsAcceptor);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls(…)")
    }
}

impl Tls {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or SEC1). Errors name the
    /// file and what is wrong with it; they never contain key material.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_file_iter(cert)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(|e| format!("cannot read the TLS certificate {}: {e}", cert.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "the TLS certificate file {} holds no CERTIFICATE block",
                cert.display()
            ));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
            format!(
                "cannot read the TLS private key {}: {e} (a PEM PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)",
                key.display()
            )
        })?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("the TLS certificate and key do not make a usable pair: {e}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self(TlsAcceptor::from(Arc::new(config))))
    }
}

/// Serves `app` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: &ServerConfig,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .keep_alive(true);
    let header_timeout = config.header_timeout;
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: wait a moment so the loop does
                    // not spin, then go on.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tokio::spawn(refuse(tcp, config.max_connections));
            continue;
        };
        let (http, app, tls, watcher) = (http.clone(), app.clone(), tls.clone(), graceful.watcher());
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => serve_connection(&http, ErrorBodies::new(tcp), app, peer, watcher).await,
                Some(Tls(acceptor)) => match tokio::time::timeout(header_timeout, acceptor.accept(tcp)).await
                {
                    Ok(Ok(stream)) => {
                        serve_connection(&http, ErrorBodies::new(stream), app, peer, watcher).await
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

async fn serve_connection<S>(
    http: &http1::Builder,
    io: ErrorBodies<S>,
    app: Router,
    peer: std::net::SocketAddr,
    watcher: Watcher,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(Peer(peer));
        app.clone().oneshot(req.map(axum::body::Body::new))
    });
    let conn = http.serve_connection(TokioIo::new(io), service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Answers a connection over the cap with a 503 and closes it.
async fn refuse(mut tcp: TcpStream, cap: usize) {
    let e = ScimError::new(
        ErrorKind::Unavailable,
        format!("roster is serving its limit of {cap} connections; retry in a moment"),
    );
    let resp = response_bytes(503, "Service Unavailable", &e, &[("retry-after", "1")]);
    let write = async {
        tcp.write_all(&resp).await?;
        tcp.shutdown().await
    };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), write).await;
    tracing::warn!(target: "roster::access", status = 503, cap, "connection refused: too many open connections");
}

fn response_bytes(status: u16, reason: &str, e: &ScimError, extra: &[(&str, &str)]) -> Vec<u8> {
    let body = error_body_bytes(e);
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/scim+json\r\ncontent-length: {}\r\n\
         connection: close\r\ncache-control: no-store\r\nx-content-type-options: nosniff\r\n",
        body.len()
    );
    for (k, v) in extra {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body);
    bytes
}

/// The SCIM error response that replaces an empty-bodied error hyper wrote itself, if `head` is one.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    let status_line_end = head.windows(2).position(|w| w == b"\r\n")?;
    let status_line = std::str::from_utf8(&head[..status_line_end]).ok()?;
    let status: u16 = status_line.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    // The header section only: a buffer may carry a body after it, which is neither read nor copied.
    let headers_end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(head.len(), |i| i + 2);
    let headers = std::str::from_utf8(&head[status_line_end..headers_end])
        .ok()?
        .to_ascii_lowercase();
    if headers.contains("\r\ncontent-type:") || !headers.contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let (kind, reason, detail) = match status {
        400 => (
            ErrorKind::InvalidSyntax,
            "Bad Request",
            "the request is not valid HTTP/1.1",
        ),
        414 => (
            ErrorKind::UriTooLong,
            "URI Too Long",
            "the request's path and query are longer than 65,534 bytes; send a long filter in the body of \
             POST /scim/v2/Users/.search instead",
        ),
        431 => (
            ErrorKind::HeadersTooLarge,
            "Request Header Fields Too Large",
            "the request's header section is too large (more than 100 headers or about 400 KB)",
        ),
        505 => (
            ErrorKind::InvalidSyntax,
            "HTTP Version Not Supported",
            "roster speaks HTTP/1.1",
        ),
        _ => return None,
    };
    let e = ScimError::new(kind, detail);
    tracing::info!(target: "roster::access", status, "request refused before routing: {detail}");
    Some(response_bytes(status, reason, &e, &[]))
}

/// A connection's stream that gives hyper's own error responses a SCIM body (see the module doc). Writes are
/// not vectored, so hyper hands each response head over in one buffer.
#[derive(Debug)]
pub struct ErrorBodies<S> {
    inner: S,
    /// A replacement response still being written, and how much of it is written.
    pending: Option<(Vec<u8>, usize)>,
}

impl<S> ErrorBodies<S> {
    /// Wraps a stream.
    pub fn new(inner: S) -> Self {
        Self { inner, pending: None }
    }
}

impl<S: AsyncWrite + Unpin> ErrorBodies<S> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Self { inner, pending } = self;
        while let Some((buf, done)) = pending {
            let n = ready!(Pin::new(&mut *inner).poll_write(cx, &buf[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
            if *done == buf.len() {
                *pending = None;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ErrorBodies<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ErrorBodies<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        if (buf.starts_with(b"HTTP/1.1 4") || buf.starts_with(b"HTTP/1.1 505"))
            && let Some(rep) = replacement(buf)
        {
            self.pending = Some((rep, 0));
            if let Poll::Ready(Err(e)) = self.drain(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_hyper_s_empty_error_heads_are_replaced() {
        let hyper_414 =
            b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 00:00:00 GMT\r\n\r\n";
        let rep = String::from_utf8(replacement(hyper_414).unwrap()).unwrap();
        assert!(rep.starts_with("HTTP/1.1 414 URI Too Long\r\ncontent-type: application/scim+json\r\n"));
        let body: serde_json::Value = serde_json::from_str(rep.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["status"], "414");
        assert!(body["detail"].as_str().unwrap().contains(".search"));
        let ours =
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/scim+json\r\ncontent-length: 0\r\n\r\n";
        assert!(replacement(ours).is_none());
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(replacement(ok).is_none());
        let with_body = b"HTTP/1.1 404 Not Found\r\ncontent-length: 12\r\n\r\n";
        assert!(replacement(with_body).is_none());
        // Words in a body do not count as headers.
        let ours_with_body =
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/scim+json\r\ncontent-length: 30\r\n\r\n{\"d\":\"\r\ncontent-length: 0\r\n\"}";
        assert!(replacement(ours_with_body).is_none());
    }
}
