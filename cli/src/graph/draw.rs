//! The graph laid out by layout-rs (no Graphviz needed): as SVG for `ctrack graph -o svg`, and
//! as placed nodes and edges for `ctrack ui`'s page, which draws them itself.

use std::collections::BTreeMap;

use connection_tracker::model::AccountRegion;
use layout::topo::layout::VisualGraph;
use serde::Serialize;

use super::{edge_width, is_account_node, Graph};

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
