//! `ctrack graph`: which of our accounts connect to which, from `/account-connections`. Written
//! as Graphviz DOT, or as SVG laid out in-process by layout-rs (no Graphviz needed).

use std::collections::BTreeMap;

use connection_tracker::model::{AccountInfo, SourceScore};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    /// node id (account id, or an included source's name) → label
    pub nodes: BTreeMap<String, String>,
    /// (from, to) → summed score
    pub edges: BTreeMap<(String, String), u64>,
}

/// Account-level graph: regions are folded into their account, scores summed. Traffic inside
/// one account (across its regions) is not an edge. Every monitored account is a node, with
/// edges or without (as the original drew them): a quiet account is visible as such.
pub fn build(
    accounts: &BTreeMap<String, AccountInfo>,
    connections: &BTreeMap<String, Vec<SourceScore<'static>>>,
) -> Graph {
    build_with(accounts, connections, false)
}

/// `--per-region`, as the original drew it: a node per account/region (labelled with the
/// account's name and the region), traffic between regions of one account an edge too.
pub fn build_per_region(
    accounts: &BTreeMap<String, AccountInfo>,
    connections: &BTreeMap<String, Vec<SourceScore<'static>>>,
) -> Graph {
    build_with(accounts, connections, true)
}

fn build_with(
    accounts: &BTreeMap<String, AccountInfo>,
    connections: &BTreeMap<String, Vec<SourceScore<'static>>>,
    per_region: bool,
) -> Graph {
    let label = |id: &str| {
        let (account, region) = id.split_once('/').unwrap_or((id, ""));
        let name = match accounts.get(account) {
            Some(a) if a.name != account => format!("{} ({account})", a.name),
            _ => account.to_string(),
        };
        if region.is_empty() {
            name
        } else {
            format!("{name} {region}")
        }
    };
    // A node: the account, or with --per-region the account/region.
    let node = |pair: &str| -> String {
        let mut parts = pair.splitn(3, '/');
        let account = parts.next().unwrap_or(pair);
        match (per_region, parts.next()) {
            (true, Some(region)) => format!("{account}/{region}"),
            _ => account.to_string(),
        }
    };
    let mut graph = Graph::default();
    // Monitored accounts are nodes even without traffic (per region: the regions counted).
    let monitored: Vec<String> = if per_region {
        Vec::new()
    } else {
        accounts.keys().cloned().collect()
    };
    let counted = connections.keys().map(|pair| node(pair));
    for id in monitored.into_iter().chain(counted) {
        let text = label(&id);
        graph.nodes.entry(id).or_insert(text);
    }
    for (pair, sources) in connections {
        let to = node(pair);
        let to = to.as_str();
        for s in sources {
            // `account/region` collapses to the account (or stays, per region); an included
            // name stays whole.
            let from = match s.source.split_once('/') {
                Some(_) => node(&s.source),
                None => s.source.to_string(),
            };
            let from = from.as_str();
            if from == to || s.score == 0 {
                continue;
            }
            for id in [from, to] {
                graph
                    .nodes
                    .entry(id.to_string())
                    .or_insert_with(|| label(id));
            }
            *graph
                .edges
                .entry((from.to_string(), to.to_string()))
                .or_default() += s.score;
        }
    }
    graph
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

pub fn to_dot(graph: &Graph) -> String {
    let mut out = String::from("digraph accounts {\n  node [shape=box];\n");
    for (id, label) in &graph.nodes {
        let account = id.split('/').next().unwrap_or(id);
        let shape = if connection_tracker::model::is_account_id(account) {
            ""
        } else {
            ", shape=ellipse"
        };
        out.push_str(&format!(
            "  {} [label={}{shape}];\n",
            quoted(id),
            quoted(label)
        ));
    }
    let heaviest = graph.edges.values().copied().max().unwrap_or(1).max(1) as f64;
    for ((from, to), score) in &graph.edges {
        // Width grows with the score's share of the heaviest edge: 1 to 5.
        let width = 1.0 + 4.0 * (*score as f64).ln_1p() / heaviest.ln_1p();
        out.push_str(&format!(
            "  {} -> {} [label={}, penwidth={width:.1}];\n",
            quoted(from),
            quoted(to),
            quoted(&score.to_string())
        ));
    }
    out.push_str("}\n");
    out
}

/// Lays the graph out and draws it as SVG.
pub fn to_svg(graph: &Graph) -> Result<String, String> {
    use layout::backends::svg::SVGWriter;
    use layout::gv::{DotParser, GraphBuilder};
    if graph.nodes.is_empty() {
        // Nothing to lay out (layout-rs wants at least one node): say so in the picture.
        return Ok(concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="360" height="40">"#,
            r#"<text x="10" y="25">no connections between accounts</text></svg>"#,
            "\n"
        )
        .to_string());
    }
    let dot = to_dot(graph);
    let mut parser = DotParser::new(&dot);
    let ast = parser.process()?;
    let mut builder = GraphBuilder::new();
    builder.visit_graph(&ast);
    let mut visual = builder.get();
    let mut svg = SVGWriter::new();
    visual.do_it(false, false, false, &mut svg);
    Ok(svg.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_region_nodes_are_account_regions() {
        let accounts = BTreeMap::from([(
            "111111111111".to_string(),
            AccountInfo {
                name: "shop".into(),
                last_update: None,
                source: Default::default(),
            },
        )]);
        let s = |source: &str, score| SourceScore {
            source: source.to_string().into(),
            score,
        };
        let connections = BTreeMap::from([(
            "111111111111/eu-west-1".to_string(),
            vec![
                s("111111111111/us-east-1", 9),
                s("222222222222/eu-west-1/nat-a.example.org", 2),
                s("office", 1),
            ],
        )]);
        let graph = build_per_region(&accounts, &connections);
        assert_eq!(
            graph.nodes.keys().collect::<Vec<_>>(),
            [
                "111111111111/eu-west-1",
                "111111111111/us-east-1",
                "222222222222/eu-west-1",
                "office"
            ]
        );
        assert_eq!(
            graph.nodes["111111111111/eu-west-1"],
            "shop (111111111111) eu-west-1"
        );
        // Traffic between regions of one account is an edge here.
        assert_eq!(
            graph.edges[&(
                "111111111111/us-east-1".to_string(),
                "111111111111/eu-west-1".to_string()
            )],
            9
        );
        assert!(to_dot(&graph)
            .contains(r#""111111111111/eu-west-1" [label="shop (111111111111) eu-west-1"];"#));
    }

    #[test]
    fn regions_fold_into_accounts_and_included_names_stay() {
        let accounts = BTreeMap::from([
            (
                "111111111111".to_string(),
                AccountInfo {
                    name: "shop".into(),
                    last_update: None,
                    source: Default::default(),
                },
            ),
            (
                "333333333333".to_string(),
                AccountInfo {
                    name: "quiet".into(),
                    last_update: None,
                    source: Default::default(),
                },
            ),
        ]);
        let s = |source: &str, score| SourceScore {
            source: source.to_string().into(),
            score,
        };
        let connections = BTreeMap::from([
            (
                "111111111111/eu-west-1".to_string(),
                vec![
                    s("222222222222/eu-west-1", 5),
                    s("222222222222/us-east-1", 2),
                    s("111111111111/us-east-1", 9),
                    s("office", 1),
                ],
            ),
            (
                "222222222222/us-east-1".to_string(),
                vec![s("111111111111/eu-west-1", 3)],
            ),
        ]);
        let graph = build(&accounts, &connections);
        assert_eq!(
            graph.nodes,
            BTreeMap::from([
                (
                    "111111111111".to_string(),
                    "shop (111111111111)".to_string()
                ),
                ("222222222222".to_string(), "222222222222".to_string()),
                // Monitored, no traffic: drawn alone, as the original did.
                (
                    "333333333333".to_string(),
                    "quiet (333333333333)".to_string()
                ),
                ("office".to_string(), "office".to_string()),
            ])
        );
        let edges: Vec<(&str, &str, u64)> = graph
            .edges
            .iter()
            .map(|((f, t), w)| (f.as_str(), t.as_str(), *w))
            .collect();
        assert_eq!(
            edges,
            [
                ("111111111111", "222222222222", 3),
                ("222222222222", "111111111111", 7),
                ("office", "111111111111", 1),
            ]
        );
        let dot = to_dot(&graph);
        assert!(dot.contains(r#""222222222222" -> "111111111111" [label="7", penwidth=5.0];"#));
        assert!(dot.contains(r#""office" [label="office", shape=ellipse];"#));
        assert_eq!(
            to_dot(&Graph {
                nodes: BTreeMap::from([("a\"b".into(), "x\\y".into())]),
                edges: BTreeMap::new()
            }),
            "digraph accounts {\n  node [shape=box];\n  \"a\\\"b\" [label=\"x\\\\y\", shape=ellipse];\n}\n"
        );
    }
}
