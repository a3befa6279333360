//! CloudWatch Embedded Metric Format: the one builder of the JSON documents the functions print,
//! which CloudWatch turns into metrics (no API call, no extra latency).

/// The unit CloudWatch shows a metric in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// The namespace every metric of the product is published under.
pub const NAMESPACE: &str = "ConnectionTracker";

/// One EMF document: the metrics as top-level members, each declared in the `_aws` directive,
/// with the `Function` dimension.
pub fn document<N: AsRef<str>>(
    function: &str,
    timestamp_ms: i64,
    metrics: &[(N, Unit, u64)],
) -> serde_json::Value {
    let mut doc = serde_json::Map::new();
    for (name, _, value) in metrics {
        doc.insert(name.as_ref().into(), (*value).into());
    }
    let definitions: Vec<serde_json::Value> = metrics
        .iter()
        .map(|(name, unit, _)| serde_json::json!({"Name": name.as_ref(), "Unit": unit.as_str()}))
        .collect();
    doc.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Function"]],
                "Metrics": definitions,
            }]
        }),
    );
    doc.insert("Function".into(), function.into());
    serde_json::Value::Object(doc)
}

/// Milliseconds since the Unix epoch, for the documents' `Timestamp`.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_metric_and_dimension_is_a_member() {
        let doc = document(
            "ingest",
            1_795_780_800_000,
            &[
                ("Records", Unit::Count, 10),
                ("DurationMs", Unit::Milliseconds, 7),
            ],
        );
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], NAMESPACE);
        assert_eq!(doc["_aws"]["Timestamp"], 1_795_780_800_000i64);
        assert_eq!(doc["Function"], "ingest");
        // Every dimension and every declared metric must be a top-level member (EMF spec).
        for dim in directive["Dimensions"][0].as_array().unwrap() {
            assert!(doc[dim.as_str().unwrap()].is_string());
        }
        let metrics = directive["Metrics"].as_array().unwrap();
        assert_eq!(
            metrics[1],
            serde_json::json!({"Name": "DurationMs", "Unit": "Milliseconds"})
        );
        for m in metrics {
            assert!(doc[m["Name"].as_str().unwrap()].is_u64(), "{m}");
        }
    }
}
