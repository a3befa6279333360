//! The API served over plain HTTP on a loopback port, for clients under test (ctrack).

/// Serves an [`Api`] over plain HTTP/1.1 on a free loopback port, for clients under test (the
/// `ctrack` command). One request per connection; the headers of every request are kept.
pub struct ServedApi {
    pub url: String,
    /// The headers of each request, lower-case names.
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<Headers>>>,
}

pub type Headers = Vec<(String, String)>;

/// Reads an HTTP/1.1 request head (up to the blank line); `None` if the peer goes away first.
pub async fn read_http_head(socket: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

pub async fn serve_api<S: crate::store::ReadStore + 'static>(
    api: crate::api::Api<S>,
    today: time::Date,
) -> ServedApi {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = requests.clone();
    let api = std::sync::Arc::new(api);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (api, seen) = (api.clone(), seen.clone());
            tokio::spawn(async move {
                let Some(head) = read_http_head(&mut socket).await else {
                    return;
                };
                let mut lines = head.split("\r\n");
                let mut first = lines.next().unwrap_or("").split(' ');
                let method = first.next().unwrap_or("").to_string();
                let target = first.next().unwrap_or("/").to_string();
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                    .collect();
                let accepts_gzip = headers
                    .iter()
                    .any(|(k, v)| k == "accept-encoding" && crate::api::accepts_gzip(v));
                seen.lock().expect("not poisoned").push(headers);
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let response = api
                    .handle(
                        crate::api::Request {
                            method: &method,
                            path,
                            query,
                            accepts_gzip,
                            request_id: "local",
                        },
                        today,
                    )
                    .await;
                let mut out = format!(
                    "HTTP/1.1 {} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                    response.status,
                    response.body.len()
                );
                for (name, value) in &response.headers {
                    out.push_str(&format!("{name}: {value}\r\n"));
                }
                out.push_str("\r\n");
                let _ = socket.write_all(out.as_bytes()).await;
                let _ = socket.write_all(&response.body).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    ServedApi { url, requests }
}
