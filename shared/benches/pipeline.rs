//! Ingest benchmark: records/s for decode only (base64 + gunzip) and for the full pipeline
//! (decode, parse, classify, aggregate, build the write), on one thread, over generated batches
//! with a realistic mix; and the peak heap of a batch of 1 MiB uncompressed.
//!
//! Run: `cargo bench -p connection-tracker --bench pipeline` (add `taskset -c 0` to pin a core).

use std::hint::black_box;
use std::time::{Duration, Instant};

use connection_tracker::config::RowLimits;
use connection_tracker::ingest::inventory::Inventory;
use connection_tracker::ingest::payload::LogsMessage;
use connection_tracker::ingest::{aggregate, Context, DecodedPayload, WritePolicy};
use connection_tracker::rules::flowlog::FlowLogFormat;
use connection_tracker::testing::alloc::{peak_since, start_peak, CountingAllocator};
use connection_tracker::testing::flow_mix::{Mix, ACCOUNT};
use connection_tracker::testing::{encode_payload, logs_message, Rng};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// 2026-11-27T12:00:00Z
const NOON: u64 = 1_795_780_800;
const POLICY: WritePolicy = WritePolicy {
    retention_days: 90,
    dedup_window: Duration::from_secs(72 * 3600),
    limits: RowLimits::DEFAULT,
};
const LIMIT: usize = 64 << 20;

struct Batch {
    data: String,
    records: usize,
    uncompressed: usize,
}

fn batch(rng: &mut Rng, mix: &Mix, records: usize) -> Batch {
    let lines: Vec<String> = (0..records).map(|_| mix.line(rng, NOON)).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let json = logs_message(ACCOUNT, "/vpc/flow-logs", &refs, NOON * 1000).to_string();
    Batch {
        data: encode_payload(json.as_bytes()),
        records,
        uncompressed: json.len(),
    }
}

fn context(format: &FlowLogFormat) -> Context<'_> {
    Context {
        fallback_format: format,
        default_region: "eu-west-1",
        retention_days: 90,
        shared_vpc_owners: &[],
        now: NOON as i64,
    }
}

/// Decode, parse, classify, count, build the write: (records counted, distinct connections).
fn full_pipeline(inventory: &Inventory, ctx: &Context, data: &str) -> (usize, usize) {
    let unit = DecodedPayload::decode(data, LIMIT).unwrap();
    let message = LogsMessage::parse(&unit.bytes).unwrap();
    let messages = [message];
    let agg = aggregate(inventory, ctx, &messages);
    let write = agg.to_write(
        &[unit.id.as_str()],
        &POLICY,
        time::OffsetDateTime::UNIX_EPOCH,
    );
    black_box(&write);
    (agg.summary.counted as usize, agg.connections() as usize)
}

/// Records/s of decode only and of the full pipeline, measured alternately batch by batch so
/// that a noisy neighbour slows both alike: (decode, full).
fn rates(inventory: &Inventory, ctx: &Context, batches: &[Batch], min: Duration) -> (f64, f64) {
    let (mut decode, mut full, mut records) = (Duration::ZERO, Duration::ZERO, 0usize);
    let started = Instant::now();
    while started.elapsed() < min {
        for b in batches {
            let t = Instant::now();
            black_box(DecodedPayload::decode(&b.data, LIMIT).unwrap());
            decode += t.elapsed();
            let t = Instant::now();
            black_box(full_pipeline(inventory, ctx, &b.data));
            full += t.elapsed();
            records += b.records;
        }
    }
    (
        records as f64 / decode.as_secs_f64(),
        records as f64 / full.as_secs_f64(),
    )
}

fn main() {
    // `cargo bench` passes --bench; a filter argument is accepted and ignored.
    let mix = Mix::new();
    let inventory = mix.inventory();
    let format = FlowLogFormat::default_v2();
    let ctx = context(&format);
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let min = Duration::from_secs(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3),
    );

    if std::env::var_os("BENCH_PROFILE").is_some() {
        // Only the pipeline, for a profiler: BENCH_PROFILE=1 valgrind --tool=callgrind …
        let b = batch(&mut rng, &mix, 10_000);
        for _ in 0..5 {
            black_box(full_pipeline(&inventory, &ctx, &b.data));
        }
        return;
    }
    println!("connection-tracker ingest benchmark (one thread, release build)");
    println!(
        "{:>8} {:>10} {:>9} {:>14} {:>14} {:>8}",
        "records", "batch KiB", "distinct", "decode rec/s", "full rec/s", "ratio"
    );
    for size in [1_000usize, 5_000, 10_000] {
        let batches: Vec<Batch> = (0..4).map(|_| batch(&mut rng, &mix, size)).collect();
        let (counted, distinct) = batches.iter().fold((0, 0), |(c, d), b| {
            let (counted, distinct) = full_pipeline(&inventory, &ctx, &b.data);
            (c + counted, d + distinct)
        });
        assert!(counted > 0, "the mix must count something");
        let (decode, full) = rates(&inventory, &ctx, &batches, min);
        println!(
            "{size:>8} {:>10} {:>8.0}% {:>14.0} {:>14.0} {:>7.0}%",
            batches[0].uncompressed / 1024,
            100.0 * distinct as f64 / counted as f64,
            decode,
            full,
            100.0 * full / decode
        );
    }

    // Where the time of the full pipeline goes, per record (10,000-record batches).
    let batches: Vec<Batch> = (0..4).map(|_| batch(&mut rng, &mix, 10_000)).collect();
    let mut phases = [Duration::ZERO; 4];
    let mut records = 0;
    let started = Instant::now();
    while started.elapsed() < min {
        for b in &batches {
            let t0 = Instant::now();
            let unit = DecodedPayload::decode(&b.data, LIMIT).unwrap();
            let t1 = Instant::now();
            let messages = [LogsMessage::parse(&unit.bytes).unwrap()];
            let t2 = Instant::now();
            let agg = aggregate(&inventory, &ctx, &messages);
            let t3 = Instant::now();
            black_box(agg.to_write(
                &[unit.id.as_str()],
                &POLICY,
                time::OffsetDateTime::UNIX_EPOCH,
            ));
            let t4 = Instant::now();
            for (p, d) in phases.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3]) {
                *p += d;
            }
            records += b.records;
        }
    }
    let per = |d: Duration| d.as_nanos() as f64 / records as f64;
    println!(
        "ns per record: decode {:.0}, JSON {:.0}, parse+classify+count {:.0}, build write {:.0}",
        per(phases[0]),
        per(phases[1]),
        per(phases[2]),
        per(phases[3])
    );

    // Peak heap while one batch of 1 MiB uncompressed goes through the full pipeline.
    let mut records = 1_000;
    let one_mib = loop {
        let b = batch(&mut rng, &mix, records);
        if b.uncompressed >= 1 << 20 {
            break b;
        }
        records = records * (1 << 20) / b.uncompressed + 50;
    };
    let base = start_peak();
    let (counted, _) = full_pipeline(&inventory, &ctx, &one_mib.data);
    let peak = peak_since(base);
    println!(
        "peak heap for one batch of {:.2} MiB uncompressed ({} records, {} counted, {} KiB on the wire): {:.2} MiB",
        one_mib.uncompressed as f64 / (1 << 20) as f64,
        one_mib.records,
        counted,
        one_mib.data.len() / 1024,
        peak as f64 / (1 << 20) as f64
    );
}
