//! `ctrack ui`: the dashboard on a local port, forwarding the API's routes signed.

use anyhow::Result;

use crate::ApiArgs;

pub async fn run(api: ApiArgs, port: u16, expected_ports: Vec<u16>, open: bool) -> Result<()> {
    let client = api.client().await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let port = listener.local_addr()?.port();
    let ui = ctrack_cli::ui::Ui::new(client, port, expected_ports)?;
    let url = ui.url();
    println!("ctrack ui: {url}");
    println!("(this link carries the session's token; Ctrl-C stops the server)");
    if open {
        let _ = std::process::Command::new("xdg-open").arg(&url).spawn();
    }
    ui.serve(listener).await
}
