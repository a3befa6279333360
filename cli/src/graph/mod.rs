//! `ctrack graph`: which of our accounts connect to which, from `/account-connections`. Written
//! as Graphviz DOT, or as SVG laid out in-process by layout-rs (no Graphviz needed).

use std::collections::BTreeMap;

use connection_tracker::model::{AccountInfo, AccountRegion, SourceScore};

mod draw;

pub use draw::{layout, to_svg, Layout, PlacedEdge, PlacedNode};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    /// node id (account id, or an included source's name) → label
    pub nodes: BTreeMap<String, String>,
    /// (from, to) → summed score
    pub edges: BTreeMap<(String, String), u64>,
}

/// The graph's data from the API: `/accounts` and `/account-connections` for the days
/// `from`..=`to` (`include`: sources named by the API's rules to keep as nodes).
pub async fn fetch(
    client: &crate::client::ApiClient,
    from: &str,
    to: &str,
    include: &[String],
    per_region: bool,
) -> Result<Graph, crate::client::ClientError> {
    let accounts: BTreeMap<String, AccountInfo> = client.get("/accounts", &[]).await?;
    let include = include.join(",");
    let mut query = vec![("from", from), ("to", to)];
    if !include.is_empty() {
        query.push(("include", include.as_str()));
    }
    let connections: BTreeMap<String, Vec<SourceScore>> =
        client.get("/account-connections", &query).await?;
    Ok(if per_region {
        build_per_region(&accounts, &connections)
    } else {
        build(&accounts, &connections)
    })
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
        let parsed = AccountRegion::parse(id);
        let (account, region) = parsed
            .as_ref()
            .map_or((id, ""), |p| (p.account(), p.region()));
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
        let parsed = AccountRegion::parse(pair)
            .or_else(|| AccountRegion::parse_prefix(pair).map(|(pair, _)| pair));
        match parsed {
            Some(pair) if per_region => pair.to_string(),
            Some(pair) => pair.account().to_string(),
            None => AccountRegion::account_of(pair).to_string(),
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
            let from = match AccountRegion::parse_prefix(&s.source) {
                Some(_) => node(&s.source),
                None if AccountRegion::parse(&s.source).is_some() => node(&s.source),
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
        let shape = if is_account_node(id) {
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
    let heaviest = graph.heaviest();
    for ((from, to), score) in &graph.edges {
        let width = edge_width(*score, heaviest);
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

impl Graph {
    /// The heaviest edge's score (1 without edges): what edge widths are relative to.
    fn heaviest(&self) -> u64 {
        self.edges.values().copied().max().unwrap_or(1)
    }
}

/// A node drawn as an account (a box): an account id, or `ACCOUNT/REGION` per region; any
/// other node is a source kept by name (an ellipse).
pub(crate) fn is_account_node(id: &str) -> bool {
    connection_tracker::model::is_account_id(AccountRegion::account_of(id))
}

/// Edge width, 1 to 5: grows with the score's share of the heaviest edge (log scale).
pub(crate) fn edge_width(score: u64, heaviest: u64) -> f64 {
    1.0 + 4.0 * (score as f64).ln_1p() / (heaviest.max(1) as f64).ln_1p()
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
                regions: Default::default(),
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
                    regions: Default::default(),
                },
            ),
            (
                "333333333333".to_string(),
                AccountInfo {
                    name: "quiet".into(),
                    last_update: None,
                    source: Default::default(),
                    regions: Default::default(),
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

    /// The page's graph is the SVG's graph: every node where `ctrack graph -o svg` draws it,
    /// every edge with its path, inside the picture, the arrowhead where the SVG puts it.
    #[test]
    fn the_layout_is_the_svg_layout() {
        let nodes = BTreeMap::from([
            (
                "111111111111".to_string(),
                "shop (111111111111)".to_string(),
            ),
            ("222222222222".to_string(), "222222222222".to_string()),
            (
                "333333333333".to_string(),
                "quiet (333333333333)".to_string(),
            ),
            ("office".to_string(), "office <&> \"hq\"".to_string()),
        ]);
        let edges = BTreeMap::from([
            (("111111111111".to_string(), "222222222222".to_string()), 3),
            (
                ("222222222222".to_string(), "111111111111".to_string()),
                700,
            ),
            (("office".to_string(), "111111111111".to_string()), 1),
        ]);
        let graph = Graph { nodes, edges };
        let placed = layout(&graph);
        let svg = to_svg(&graph).unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
        let group = |id: &str| {
            doc.descendants()
                .find(|n| n.has_tag_name("g") && n.attribute("id") == Some(id))
                .and_then(|g| g.children().find(|c| c.is_element()))
                .unwrap_or_else(|| panic!("{id} in {svg}"))
        };
        let number = |n: roxmltree::Node, a: &str| n.attribute(a).unwrap().parse::<f64>().unwrap();
        assert_eq!(placed.nodes.len(), 4);
        for (i, node) in placed.nodes.iter().enumerate() {
            assert_eq!(node.label, graph.nodes[&node.id]);
            let shape = group(&format!("n{i}"));
            if node.account {
                assert_eq!(shape.tag_name().name(), "rect", "{}", node.id);
                assert!((number(shape, "x") - node.x).abs() < 1e-6);
                assert!((number(shape, "y") - node.y).abs() < 1e-6);
                assert!((number(shape, "width") - node.width).abs() < 1e-6);
            } else {
                assert_eq!(shape.tag_name().name(), "ellipse", "{}", node.id);
                assert!((number(shape, "cx") - (node.x + node.width / 2.0)).abs() < 1e-6);
                assert!((number(shape, "ry") - node.height / 2.0).abs() < 1e-6);
            }
            assert!(
                node.x >= 0.0 && node.x + node.width <= placed.width,
                "{node:?}"
            );
            assert!(
                node.y >= 0.0 && node.y + node.height <= placed.height,
                "{node:?}"
            );
        }
        assert_eq!(placed.edges.len(), 3);
        for (i, edge) in placed.edges.iter().enumerate() {
            let path = group(&format!("e{i}"));
            assert_eq!(path.tag_name().name(), "path");
            // The same curve, to the tenth of a pixel.
            let theirs: Vec<f64> = path
                .attribute("d")
                .unwrap()
                .split([' ', ','])
                .filter_map(|t| t.parse().ok())
                .collect();
            let ours: Vec<f64> = edge
                .path
                .split([' ', ','])
                .filter_map(|t| t.parse().ok())
                .collect();
            assert_eq!(theirs.len(), ours.len(), "{} vs {}", edge.path, svg);
            for (a, b) in theirs.iter().zip(&ours) {
                assert!((a - b).abs() <= 0.05, "{} vs {}", edge.path, svg);
            }
            assert_eq!(
                edge.head_at_start,
                path.attribute("marker-start").is_some() && path.attribute("marker-end").is_none()
            );
            assert!(edge.label_x > 0.0 && edge.label_x < placed.width);
            assert!(edge.label_y > 0.0 && edge.label_y < placed.height);
            assert!((1.0..=5.0).contains(&edge.width));
        }
        let heavy = &placed.edges[1];
        assert_eq!(
            (heavy.from.as_str(), heavy.score, heavy.width),
            ("222222222222", 700, 5.0)
        );
        // Names are data, never markup: the SVG escapes them, the page sets them as text.
        assert!(svg.contains("office &lt;&amp;&gt; &quot;hq&quot;"), "{svg}");
        assert_eq!(layout(&Graph::default()), Layout::default());
    }
}
