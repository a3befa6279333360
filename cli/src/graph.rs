//! `ctrack graph`: which of our accounts connect to which, from `/account-connections`. Written
//! as Graphviz DOT, or as SVG laid out in-process by layout-rs (no Graphviz needed).

use std::collections::BTreeMap;

use connection_tracker::model::{AccountInfo, AccountRegion, SourceScore};
use layout::topo::layout::VisualGraph;
use serde::Serialize;

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
fn is_account_node(id: &str) -> bool {
    connection_tracker::model::is_account_id(AccountRegion::account_of(id))
}

/// Edge width, 1 to 5: grows with the score's share of the heaviest edge (log scale).
fn edge_width(score: u64, heaviest: u64) -> f64 {
    1.0 + 4.0 * (score as f64).ln_1p() / (heaviest.max(1) as f64).ln_1p()
}

/// The graph as layout-rs lays it out: accounts as boxes, other sources as ellipses, an edge
/// per (from, to) labelled with its score. Each shape carries `id="nI"` / `id="eI"` (I: its
/// index in the graph's order), which both backends read back.
fn visual(graph: &Graph) -> VisualGraph {
    use layout::core::base::Orientation;
    use layout::core::color::Color;
    use layout::core::style::{LineStyleKind, StyleAttr};
    use layout::std_shapes::render::get_shape_size;
    use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};

    let dir = Orientation::TopToBottom;
    let mut visual = VisualGraph::new(dir);
    let mut handles = BTreeMap::new();
    for (i, (id, label)) in graph.nodes.iter().enumerate() {
        let shape = if is_account_node(id) {
            ShapeKind::Box(label.clone())
        } else {
            ShapeKind::Circle(label.clone())
        };
        let size = get_shape_size(dir.flip(), &shape, 14, false);
        let look = StyleAttr::new(Color::fast("black"), 1, Some(Color::fast("white")), 0, 14);
        let element =
            Element::create_with_properties(shape, look, dir.flip(), size, format!("id=\"n{i}\""));
        handles.insert(id.as_str(), visual.add_node(element));
    }
    let heaviest = graph.heaviest();
    for (i, ((from, to), score)) in graph.edges.iter().enumerate() {
        let (Some(&from), Some(&to)) = (handles.get(from.as_str()), handles.get(to.as_str()))
        else {
            continue;
        };
        let look = StyleAttr::new(
            Color::fast("black"),
            edge_width(*score, heaviest).round() as usize,
            None,
            0,
            14,
        );
        let mut arrow = Arrow::new(
            LineEndKind::None,
            LineEndKind::Arrow,
            LineStyleKind::Normal,
            &score.to_string(),
            &look,
            &None,
            &None,
        );
        arrow.properties = Some(format!("id=\"e{i}\""));
        visual.add_edge(arrow, from, to);
    }
    visual
}

/// Lays the graph out and draws it as SVG.
pub fn to_svg(graph: &Graph) -> Result<String, String> {
    use layout::backends::svg::SVGWriter;
    if graph.nodes.is_empty() {
        // Nothing to lay out (layout-rs wants at least one node): say so in the picture.
        return Ok(concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="360" height="40">"#,
            r#"<text x="10" y="25">no connections between accounts</text></svg>"#,
            "\n"
        )
        .to_string());
    }
    let mut svg = SVGWriter::new();
    visual(graph).do_it(false, false, false, &mut svg);
    Ok(svg.finalize())
}

/// The graph laid out (the same layout as `ctrack graph -o svg`), as data: what `ctrack ui`
/// sends the page, which draws it with DOM calls (names stay text) and makes it clickable.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Layout {
    pub width: f64,
    pub height: f64,
    pub nodes: Vec<PlacedNode>,
    pub edges: Vec<PlacedEdge>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlacedNode {
    /// The account id (`ACCOUNT/REGION` per region), or an included source's name.
    pub id: String,
    pub label: String,
    /// An account (a box) or another source (an ellipse).
    pub account: bool,
    /// The account of an account node (what the dashboard links it to); `None` for a source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// Top-left corner and size.
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlacedEdge {
    pub from: String,
    pub to: String,
    pub score: u64,
    /// Stroke width, 1 to 5.
    pub width: f64,
    /// SVG path data (`M … C … S …`): numbers only.
    pub path: String,
    /// Where its score label goes: about the middle of the path.
    pub label_x: f64,
    pub label_y: f64,
    /// Where the arrowhead is drawn: at the path's end, or at its start when the layout drew
    /// the edge reversed (an edge against the ranks).
    pub head_at_start: bool,
}

pub fn layout(graph: &Graph) -> Layout {
    if graph.nodes.is_empty() {
        return Layout::default();
    }
    let ids: Vec<&String> = graph.nodes.keys().collect();
    let edges: Vec<(&(String, String), &u64)> = graph.edges.iter().collect();
    let mut recorder = Recorder::default();
    visual(graph).do_it(false, false, false, &mut recorder);
    let heaviest = graph.heaviest();
    let mut placed = Layout {
        width: recorder.width,
        height: recorder.height,
        ..Layout::default()
    };
    for (index, (x, y, width, height)) in recorder.nodes {
        let id = ids[index];
        placed.nodes.push(PlacedNode {
            id: id.clone(),
            label: graph.nodes[id].clone(),
            account: is_account_node(id),
            account_id: is_account_node(id).then(|| AccountRegion::account_of(id).to_string()),
            x,
            y,
            width,
            height,
        });
    }
    for (index, (path, label_x, label_y, head_at_start)) in recorder.edges {
        let ((from, to), score) = edges[index];
        placed.edges.push(PlacedEdge {
            from: from.clone(),
            to: to.clone(),
            score: *score,
            width: (edge_width(*score, heaviest) * 10.0).round() / 10.0,
            path,
            label_x,
            label_y,
            head_at_start,
        });
    }
    placed
}

/// A layout-rs backend that keeps where each node and edge went (by the `id` property).
#[derive(Default)]
struct Recorder {
    nodes: BTreeMap<usize, (f64, f64, f64, f64)>,
    edges: BTreeMap<usize, (String, f64, f64, bool)>,
    width: f64,
    height: f64,
}

impl Recorder {
    fn index(properties: &Option<String>, kind: char) -> Option<usize> {
        let p = properties.as_deref()?;
        p.strip_prefix("id=\"")?
            .strip_prefix(kind)?
            .strip_suffix('"')?
            .parse()
            .ok()
    }

    fn grow(&mut self, x: f64, y: f64) {
        self.width = self.width.max((x + 5.0).ceil());
        self.height = self.height.max((y + 5.0).ceil());
    }

    fn node(&mut self, properties: &Option<String>, x: f64, y: f64, w: f64, h: f64) {
        self.grow(x + w, y + h);
        if let Some(i) = Self::index(properties, 'n') {
            self.nodes.entry(i).or_insert((x, y, w, h));
        }
    }
}

impl layout::core::format::RenderBackend for Recorder {
    fn draw_rect(
        &mut self,
        xy: layout::core::geometry::Point,
        size: layout::core::geometry::Point,
        _look: &layout::core::style::StyleAttr,
        properties: Option<String>,
        _clip: Option<layout::core::format::ClipHandle>,
    ) {
        self.node(&properties, xy.x, xy.y, size.x, size.y);
    }

    fn draw_line(
        &mut self,
        start: layout::core::geometry::Point,
        stop: layout::core::geometry::Point,
        _look: &layout::core::style::StyleAttr,
        _properties: Option<String>,
    ) {
        self.grow(start.x.max(stop.x), start.y.max(stop.y));
    }

    fn draw_circle(
        &mut self,
        xy: layout::core::geometry::Point,
        size: layout::core::geometry::Point,
        _look: &layout::core::style::StyleAttr,
        properties: Option<String>,
    ) {
        // The centre and the size: kept as the bounding box.
        self.node(
            &properties,
            xy.x - size.x / 2.0,
            xy.y - size.y / 2.0,
            size.x,
            size.y,
        );
    }

    fn draw_text(
        &mut self,
        _xy: layout::core::geometry::Point,
        _text: &str,
        _look: &layout::core::style::StyleAttr,
    ) {
    }

    fn draw_arrow(
        &mut self,
        path: &[(layout::core::geometry::Point, layout::core::geometry::Point)],
        _dashed: bool,
        head: (bool, bool),
        _look: &layout::core::style::StyleAttr,
        properties: Option<String>,
        _text: &str,
    ) {
        use std::fmt::Write;
        for (a, b) in path {
            self.grow(a.x.max(b.x), a.y.max(b.y));
        }
        let (Some(i), [first, second, rest @ ..]) = (Self::index(&properties, 'e'), path) else {
            return;
        };
        // As layout-rs's SVG backend writes it: the exit vector, then the entry vectors.
        let mut d = format!(
            "M {:.1} {:.1} C {:.1} {:.1}, {:.1} {:.1}, {:.1} {:.1}",
            first.0.x,
            first.0.y,
            first.1.x,
            first.1.y,
            second.0.x,
            second.0.y,
            second.1.x,
            second.1.y
        );
        for point in rest {
            let _ = write!(
                d,
                " S {:.1} {:.1}, {:.1} {:.1}",
                point.0.x, point.0.y, point.1.x, point.1.y
            );
        }
        // The label: the middle of a single curve (B(½) of its four points), else the end of
        // the middle segment.
        let (label_x, label_y) = if rest.is_empty() {
            (
                (first.0.x + 3.0 * first.1.x + 3.0 * second.0.x + second.1.x) / 8.0,
                (first.0.y + 3.0 * first.1.y + 3.0 * second.0.y + second.1.y) / 8.0,
            )
        } else {
            let middle = &path[path.len() / 2];
            (middle.1.x, middle.1.y)
        };
        let round = |v: f64| (v * 10.0).round() / 10.0;
        self.edges
            .insert(i, (d, round(label_x), round(label_y), head.0 && !head.1));
    }

    fn create_clip(
        &mut self,
        _xy: layout::core::geometry::Point,
        _size: layout::core::geometry::Point,
        _rounded_px: usize,
    ) -> layout::core::format::ClipHandle {
        0
    }
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
