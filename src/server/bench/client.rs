//! A minimal HTTP/1.1 client over one keep-alive connection, for the bench: one write per
//! request, answers read by their `Content-Length` (or chunks), nothing else. Not for use
//! against servers other than ours: it reads only what `serve` sends.

use std::net::SocketAddr;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The most bytes of an answer's head or body the bench reads.
const MAX_ANSWER: usize = 16 << 20;

pub struct Conn {
    stream: BufReader<TcpStream>,
    head: String,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Conn, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(Conn {
            stream: BufReader::new(stream),
            head: String::new(),
        })
    }

    /// Sends a request and reads its answer: the status and the body.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Result<(u16, String), String> {
        self.write_request(method, path, token, body).await?;
        self.read_response().await
    }

    /// Sends a JSON body and reads a JSON answer, which must be a success.
    pub async fn json(
        &mut self,
        method: &str,
        path: &str,
        token: &str,
        body: &Value,
    ) -> Result<Value, String> {
        let (status, text) = self
            .send(method, path, Some(token), Some(&body.to_string()))
            .await?;
        if !(200..300).contains(&status) {
            return Err(format!("{method} {path} answered {status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("{method} {path}: {e}"))
    }

    pub async fn write_request(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Result<(), String> {
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: bench\r\n");
        if let Some(token) = token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if let Some(body) = body {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ));
        } else {
            request.push_str("\r\n");
        }
        self.stream
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("cannot send {method} {path}: {e}"))
    }

    pub async fn read_response(&mut self) -> Result<(u16, String), String> {
        let mut length: Option<usize> = None;
        let mut chunked = false;
        let mut status = 0u16;
        let mut first = true;
        loop {
            self.head.clear();
            let n = self
                .stream
                .read_line(&mut self.head)
                .await
                .map_err(|e| format!("cannot read an answer: {e}"))?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            let line = self.head.trim_end();
            if first {
                status = line
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("not an HTTP status line: {line:?}"))?;
                first = false;
                continue;
            }
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().ok();
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                }
            }
        }
        let body = if chunked {
            self.read_chunks().await?
        } else {
            let n = length.unwrap_or(0);
            if n > MAX_ANSWER {
                return Err(format!("an answer of {n} bytes"));
            }
            let mut body = vec![0u8; n];
            self.stream
                .read_exact(&mut body)
                .await
                .map_err(|e| format!("cannot read an answer's body: {e}"))?;
            body
        };
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    async fn read_chunks(&mut self) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        loop {
            self.head.clear();
            self.stream
                .read_line(&mut self.head)
                .await
                .map_err(|e| e.to_string())?;
            let size = usize::from_str_radix(self.head.trim(), 16)
                .map_err(|_| format!("not a chunk size: {:?}", self.head))?;
            if body.len() + size > MAX_ANSWER {
                return Err("an answer too large".into());
            }
            let mut chunk = vec![0u8; size + 2];
            self.stream
                .read_exact(&mut chunk)
                .await
                .map_err(|e| e.to_string())?;
            chunk.truncate(size);
            body.extend_from_slice(&chunk);
            if size == 0 {
                return Ok(body);
            }
        }
    }
}
