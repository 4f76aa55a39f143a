//! The guest's stdout and stderr, captured together in arrival order with a size cap.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

use crate::exec::push_capped;

#[derive(Debug, Default)]
struct Buf {
    out: Vec<u8>,
    limit: usize,
    truncated: bool,
}

/// One buffer that both of the guest's output streams write into. Output past the limit is
/// dropped (the guest never sees an error) and `TRUNCATION_MARKER` is appended once.
#[derive(Debug, Clone)]
pub struct Capture(Arc<Mutex<Buf>>);

impl Capture {
    pub fn new(limit: usize) -> Self {
        Capture(Arc::new(Mutex::new(Buf {
            out: Vec::new(),
            limit,
            truncated: false,
        })))
    }

    pub fn push(&self, bytes: &[u8]) {
        let mut b = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let Buf {
            out,
            limit,
            truncated,
        } = &mut *b;
        push_capped(out, bytes, *limit, truncated);
    }

    /// The bytes captured so far and whether they were cut.
    pub fn take(&self) -> (Vec<u8>, bool) {
        let mut b = self.0.lock().unwrap_or_else(|p| p.into_inner());
        (std::mem::take(&mut b.out), b.truncated)
    }

    /// The last `n` bytes, lossily decoded (for error messages).
    pub fn tail(&self, n: usize) -> String {
        let b = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let start = b.out.len().saturating_sub(n);
        String::from_utf8_lossy(&b.out[start..]).into_owned()
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// How much the guest may write in one go; writes are taken whole, whatever the cap.
const WRITE_BUDGET: usize = 1 << 20;

#[async_trait::async_trait]
impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

#[async_trait::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
