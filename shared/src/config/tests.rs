//! The settings' readers, each variable's default and refusal.

use super::*;
use std::time::Duration;

use crate::model::is_region;

fn env(vars: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Env(move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
}

#[test]
fn the_organization_is_a_source_only_with_a_role() {
    let base = [
        ("REDIS_URL", "redis://h"),
        ("ACCOUNTS_TABLE", "t"),
        ("REGIONS", "eu-west-1"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut vars = extra.to_vec();
        vars.extend_from_slice(&base);
        env(&vars).refresh()
    };
    assert_eq!(with(&[]).unwrap().organization, None);
    let on = with(&[
        (
            "ORGANIZATION_ROLE_ARN",
            "arn:aws:iam::123456789012:role/org/reader",
        ),
        ("ORGANIZATION_UNITS", "ou-ab12-cd34ef56, r-ab12"),
    ])
    .unwrap()
    .organization
    .unwrap();
    assert_eq!(on.units, ["ou-ab12-cd34ef56", "r-ab12"]);
    for (vars, var) in [
        (
            &[("ORGANIZATION_UNITS", "ou-ab12-cd34ef56")][..],
            "ORGANIZATION_ROLE_ARN",
        ),
        (
            &[("ORGANIZATION_ROLE_ARN", "arn:aws:iam::12:role/x")][..],
            "ORGANIZATION_ROLE_ARN",
        ),
        (
            &[("ORGANIZATION_ROLE_ARN", "arn:aws:s3:::bucket")][..],
            "ORGANIZATION_ROLE_ARN",
        ),
        (
            &[
                ("ORGANIZATION_ROLE_ARN", "arn:aws:iam::123456789012:role/r"),
                ("ORGANIZATION_UNITS", "ou-AB12-cd34ef56"),
            ][..],
            "ORGANIZATION_UNITS",
        ),
    ] {
        let error = with(vars).unwrap_err().to_string();
        assert!(error.contains(var), "{vars:?}: {error}");
    }
}

#[test]
fn the_archive_is_off_without_a_bucket_and_its_settings_are_checked() {
    assert_eq!(env(&[]).archive().unwrap(), None);
    let on = env(&[("ARCHIVE_BUCKET", "evidence"), ("RETENTION_DAYS", "30")])
        .archive()
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            on.prefix.as_str(),
            on.after_hours,
            on.max_days_per_run,
            on.retention_days
        ),
        ("connections/", 48, 7, 30)
    );
    let table = [
        (
            &[("ARCHIVE_PREFIX", "/evidence/days")][..],
            Ok("evidence/days/"),
        ),
        (&[("ARCHIVE_PREFIX", "")][..], Ok("connections/")),
        (&[("ARCHIVE_PREFIX", "a\u{7}b")][..], Err("ARCHIVE_PREFIX")),
        (
            &[("ARCHIVE_BUCKET", "Not_A_Bucket")][..],
            Err("ARCHIVE_BUCKET"),
        ),
        (
            &[("ARCHIVE_AFTER_HOURS", "0")][..],
            Err("ARCHIVE_AFTER_HOURS"),
        ),
        (
            &[("ARCHIVE_MAX_DAYS_PER_RUN", "many")][..],
            Err("ARCHIVE_MAX_DAYS_PER_RUN"),
        ),
    ];
    for (vars, expected) in table {
        // The first of a name wins: the row's variables before the default bucket.
        let mut all = vars.to_vec();
        all.push(("ARCHIVE_BUCKET", "evidence"));
        let got = env(&all).archive();
        match expected {
            Ok(prefix) => assert_eq!(got.unwrap().unwrap().prefix, prefix, "{vars:?}"),
            Err(var) => assert!(got.unwrap_err().to_string().contains(var), "{vars:?}"),
        }
    }
}

#[test]
fn minimal_ingest_config_uses_defaults() {
    let c = env(&[
        ("REDIS_URL", "redis://127.0.0.1:6379"),
        ("AWS_REGION", "eu-west-1"),
    ])
    .ingest()
    .unwrap();
    assert_eq!(c.retention_days, DEFAULT_RETENTION_DAYS);
    assert_eq!(c.dedup_window, Duration::from_secs(72 * 3600));
    assert_eq!(c.max_decompressed_bytes, DEFAULT_MAX_DECOMPRESSED_BYTES);
    assert_eq!(c.default_region, "eu-west-1");
    assert_eq!(c.redis.cluster, None);
    assert!(c.flow_log_format.is_none());
    assert!(c.networks.is_empty());
}

#[test]
fn bad_settings_name_the_variable() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "REDIS_URL is not set"),
        (
            &[("REDIS_URL", "http://x")],
            "REDIS_URL=\"http://… (not shown)\" is invalid",
        ),
        (
            &[("REDIS_URL", "redis://h"), ("RETENTION_DAYS", "0")],
            "RETENTION_DAYS=\"0\" is invalid; expected a whole number from 1 to 3650",
        ),
        (
            &[("REDIS_URL", "redis://h"), ("RETENTION_DAYS", "ten")],
            "RETENTION_DAYS=\"ten\" is invalid",
        ),
        (
            &[("REDIS_URL", "redis://h"), ("SHARED_VPC_OWNERS", "111111111111,12345")],
            "SHARED_VPC_OWNERS=\"12345\" is invalid; expected comma-separated AWS account ids (12 digits)",
        ),
        (
            &[("REDIS_URL", "redis://h"), ("DEDUP_WINDOW_HOURS", "0")],
            "DEDUP_WINDOW_HOURS=\"0\" is invalid; expected a whole number from 1 to 720",
        ),
        (
            &[
                ("REDIS_URL", "redis://h"),
                ("NETWORKS", "office=1.2.3.0/33"),
            ],
            "NETWORKS=\"office=1.2.3.0/33\" is invalid",
        ),
        (
            &[("REDIS_URL", "redis://h"), ("NETWORKS", "1.2.3.0/24")],
            "NETWORKS=\"1.2.3.0/24\" is invalid",
        ),
        (
            &[("REDIS_URL", "redis://h"), ("FLOW_LOG_FORMAT", "${version")],
            "FLOW_LOG_FORMAT=\"${version\" is invalid",
        ),
        (
            &[("REDIS_URL", "redis://h"), ("REDIS_CLUSTER", "maybe")],
            "REDIS_CLUSTER=\"maybe\" is invalid; expected auto, true or false",
        ),
        (
            &[("REDIS_URL", "redis://h"), ("MAX_DECOMPRESSED_BYTES", "10")],
            "MAX_DECOMPRESSED_BYTES=\"10\" is invalid",
        ),
    ];
    for (vars, want) in cases {
        let err = env(vars).ingest().unwrap_err().to_string();
        assert!(err.starts_with(want), "{vars:?}: {err}");
    }
    // A malformed URL is never printed: it may hold a password.
    for url in [
        "rediss://admin:s3cr3t@cache.example.org:notaport",
        "redis://:s3cr3t@[::1:6379",
        "s3cr3t",
    ] {
        let err = env(&[("REDIS_URL", url)]).ingest().unwrap_err().to_string();
        assert!(err.starts_with("REDIS_URL="), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
    }
}

#[test]
fn refresh_settings() {
    let c = env(&[
        ("REDIS_URL", "redis://h"),
        ("ACCOUNTS_TABLE", "accounts"),
        ("REGIONS", "eu-west-1, us-east-1"),
    ])
    .refresh()
    .unwrap();
    assert_eq!(c.regions, ["eu-west-1", "us-east-1"]);
    assert_eq!(c.role_name, "connection-tracker-reader");
    assert_eq!((c.concurrency, c.page_size), (32, None));
    assert_eq!(c.external_id, None);
    let with_id = |id: &str| {
        env(&[
            ("REDIS_URL", "redis://h"),
            ("ACCOUNTS_TABLE", "accounts"),
            ("REGIONS", "eu-west-1"),
            ("EXTERNAL_ID", id),
        ])
        .refresh()
    };
    assert_eq!(
        with_id("ct-7f3a:org/sec@example.org")
            .unwrap()
            .external_id
            .as_deref(),
        Some("ct-7f3a:org/sec@example.org")
    );
    assert_eq!(with_id("").unwrap().external_id, None);
    for bad in ["7", "has space", "semi;colon"] {
        let err = with_id(bad).unwrap_err().to_string();
        assert!(
            err.starts_with("EXTERNAL_ID=\"(not shown)\" is invalid"),
            "{err}"
        );
        assert!(!err.contains(bad), "the value is never printed: {err}");
    }
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("REDIS_URL", "redis://h"), ("REGIONS", "eu-west-1")],
            "ACCOUNTS_TABLE is not set",
        ),
        (
            &[
                ("REDIS_URL", "redis://h"),
                ("ACCOUNTS_TABLE", "t"),
                ("REGIONS", "eu-west-1,Europe"),
            ],
            "REGIONS=\"Europe\" is invalid",
        ),
        (
            &[
                ("REDIS_URL", "redis://h"),
                ("ACCOUNTS_TABLE", "t"),
                ("REGIONS", "eu-west-1"),
                ("REFRESH_CONCURRENCY", "0"),
            ],
            "REFRESH_CONCURRENCY=\"0\" is invalid",
        ),
    ];
    for (vars, want) in cases {
        let err = env(vars).refresh().unwrap_err().to_string();
        assert!(err.starts_with(want), "{vars:?}: {err}");
    }
    for (r, ok) in [
        ("eu-west-1", true),
        ("us-gov-west-1", true),
        ("eu-west", false),
        ("EU-west-1", false),
        ("", false),
    ] {
        assert_eq!(is_region(r), ok, "{r}");
    }
}

#[test]
fn networks_and_format_parse() {
    let c = env(&[
        ("REDIS_URL", "rediss://cache.example.org:6379"),
        (
            "NETWORKS",
            "my_office=123.123.123.0/24, some_nat=85.1.1.1/32",
        ),
        ("FLOW_LOG_FORMAT", "${version} ${interface-id} ${srcaddr}"),
        ("REDIS_CLUSTER", "true"),
    ])
    .ingest()
    .unwrap();
    assert_eq!(
        c.networks.lookup("85.1.1.1".parse().unwrap()),
        Some("some_nat")
    );
    assert_eq!(
        c.networks.lookup("123.123.123.7".parse().unwrap()),
        Some("my_office")
    );
    assert_eq!(c.flow_log_format.unwrap().len(), 3);
    assert_eq!(c.redis.cluster, Some(true));
}

#[test]
fn dead_letter_settings() {
    let base = [("REDIS_URL", "redis://127.0.0.1:6379")];
    let read = |extra: &[(&str, &str)]| {
        let mut vars = base.to_vec();
        vars.extend_from_slice(extra);
        env(&vars).dead_letter()
    };
    assert_eq!(read(&[]).unwrap(), None);
    type Vars<'a> = &'a [(&'a str, &'a str)];
    let cases: &[(Vars, Option<(&str, &str)>)] = &[
        (
            &[("DEAD_LETTER_BUCKET", "ct-failures")],
            Some(("ct-failures", "dead-letter/")),
        ),
        (
            &[
                ("DEAD_LETTER_BUCKET", "ct.failures-1"),
                ("DEAD_LETTER_PREFIX", "/dl"),
            ],
            Some(("ct.failures-1", "dl/")),
        ),
        (
            &[("DEAD_LETTER_BUCKET", "ct"), ("DEAD_LETTER_PREFIX", "x/")],
            None,
        ),
        (&[("DEAD_LETTER_BUCKET", "CT-Failures")], None),
        (&[("DEAD_LETTER_BUCKET", "ct..failures")], None),
        (&[("DEAD_LETTER_BUCKET", "ct-failures-")], None),
        (
            &[
                ("DEAD_LETTER_BUCKET", "ct-failures"),
                ("DEAD_LETTER_PREFIX", "a b"),
            ],
            None,
        ),
        (
            &[
                ("DEAD_LETTER_BUCKET", "ct-failures"),
                ("DEAD_LETTER_PREFIX", "../{x}"),
            ],
            None,
        ),
    ];
    for (vars, want) in cases {
        let got = read(vars)
            .ok()
            .flatten()
            .map(|c| (c.bucket.clone(), c.prefix.clone()));
        let want = want.map(|(b, p)| (b.to_string(), p.to_string()));
        assert_eq!(got, want, "{vars:?}");
    }
}
