//! A flow-log object as S3 delivers it, through the S3 path (stream → gunzip → chunks → Redis):
//! records/s and the peak heap, for an object of `OBJECT_MB` compressed (default 50).
//!
//! Run: `cargo bench -p connection-tracker --bench objects`

use std::io::Write;
use std::time::Instant;

use connection_tracker::config::Env;
use connection_tracker::ingest::s3::{parse_key, ObjectCount};
use connection_tracker::ingest::Ingestor;
use connection_tracker::store::RedisStore;
use connection_tracker::testing::alloc::{peak_since, start_peak, CountingAllocator};
use connection_tracker::testing::flow_mix::{Mix, NETWORKS};
use connection_tracker::testing::{RedisServer, Rng};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn main() {
    let target_mb: usize = std::env::var("OBJECT_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let mix = Mix::new();
    let now = time::OffsetDateTime::now_utc();
    let hour = now.unix_timestamp() as u64 - 3600;
    let day = now.date();
    let key = format!(
        "AWSLogs/111111111111/vpcflowlogs/eu-west-1/{:04}/{:02}/{:02}/111111111111_vpcflowlogs_eu-west-1_fl-bench_{:04}{:02}{:02}T0000Z_0.log.gz",
        day.year(), u8::from(day.month()), day.day(), day.year(), u8::from(day.month()), day.day()
    );
    // The object: written to a temporary file with flate2 (fast level), as large as asked.
    let path = std::env::temp_dir().join("connection-tracker-bench-object.log.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::io::BufWriter::new(std::fs::File::create(&path).unwrap()),
        flate2::Compression::new(6),
    );
    writeln!(gz, "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status").unwrap();
    let mut rng = Rng(0x000b_1ec7);
    let mut records = 0usize;
    loop {
        for _ in 0..10_000 {
            writeln!(gz, "{}", mix.line(&mut rng, hour)).unwrap();
        }
        records += 10_000;
        if gz.get_ref().get_ref().metadata().unwrap().len() >= (target_mb << 20) as u64 {
            break;
        }
    }
    gz.finish().unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    println!(
        "object: {:.1} MiB compressed, {records} records",
        size as f64 / (1 << 20) as f64
    );

    let redis = RedisServer::start();
    let url = redis.url();
    let vars = move |name: &str| match name {
        "REDIS_URL" => Some(url.clone()),
        "NETWORKS" => Some(NETWORKS.to_string()),
        _ => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = Env(vars).ingest().unwrap();
        let store = RedisStore::connect(&config.redis).await.unwrap();
        store.put_inventory(&mix.inventory_file()).await.unwrap();
        let ingestor = Ingestor::new(store, config);
        let object_key = parse_key(&key).unwrap();
        let file = tokio::fs::File::open(&path).await.unwrap();
        let reader = tokio::io::BufReader::with_capacity(256 * 1024, file);
        let before = start_peak();
        let started = Instant::now();
        let count = ObjectCount {
            ingestor: &ingestor,
            key: &object_key,
            identity: &object_key.from_awslogs,
            now,
            deadline: None,
            mark: None,
        };
        let summary = count.gzip_text(reader).await.unwrap().summary;
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "S3 path: {} records ({} counted) in {elapsed:.2} s = {:.0} records/s, {} chunks; peak heap above the start: {:.1} MiB",
            summary.records,
            summary.counted,
            summary.records as f64 / elapsed,
            summary.payloads,
            peak_since(before) as f64 / (1 << 20) as f64
        );
    });
    std::fs::remove_file(&path).ok();
}
