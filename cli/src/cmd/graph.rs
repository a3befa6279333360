//! `ctrack graph`: the connections between accounts, drawn as SVG or Graphviz DOT.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use ctrack_cli::graph;

use crate::{range, ApiArgs};

pub async fn run(
    api: ApiArgs,
    include: &[String],
    (from, to): (&str, Option<&str>),
    output: &Path,
    per_region: bool,
) -> Result<()> {
    let client = api.client().await?;
    let (from, to) = range(from, to)?;
    let graph = graph::fetch(
        &client,
        &from.to_string(),
        &to.to_string(),
        include,
        per_region,
    )
    .await?;
    let text = match output.extension().and_then(|e| e.to_str()) {
        Some("dot" | "gv") => graph::to_dot(&graph),
        Some("svg") => graph::to_svg(&graph).map_err(|e| anyhow!("layout failed: {e}"))?,
        _ => bail!("{}: the output must end in .svg or .dot", output.display()),
    };
    std::fs::write(output, text).with_context(|| format!("cannot write {}", output.display()))?;
    eprintln!(
        "{}: {} {}, {} edges",
        output.display(),
        graph.nodes.len(),
        if per_region {
            "account/regions"
        } else {
            "accounts"
        },
        graph.edges.len()
    );
    Ok(())
}
