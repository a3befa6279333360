//! Ingest benchmark: records/s for decode only (base64 + gunzip) and for the full pipeline
//! (decode, parse, classify, aggregate, build the write), on one thread, over generated batches
//! with a realistic mix; and the peak heap of a batch of 1 MiB uncompressed.
//!
//! Run: `cargo bench -p connection-tracker --bench pipeline` (add `taskset -c 0` to pin a core).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ctrack::classify::Networks;
use ctrack::flowlog::FlowLogFormat;
use ctrack::ingest::{aggregate, Context, Unit};
use ctrack::inventory::{InterfaceFacts, Inventory};
use ctrack::payload::LogsMessage;
use ctrack::testing::{encode_payload, logs_message};

/// Counts live heap bytes and their high-water mark.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size > layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                    - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ACCOUNT: &str = "111111111111";
/// 2026-11-27T12:00:00Z
const NOON: u64 = 1_795_780_800;
const LIMIT: usize = 64 << 20;

/// A small xorshift generator: the same batches on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// 40 interfaces of every kind (load balancers, instances, RDS, NAT, other).
fn estate() -> (Inventory, Vec<(String, String)>) {
    let mut inventory = Inventory {
        networks: Networks::new(vec![("office".into(), "85.1.0.0/16".parse().unwrap())]),
        ..Inventory::default()
    };
    let mut ifaces = Vec::new();
    for i in 0..40u32 {
        let private = format!("10.0.{}.{}", i / 200, i % 200 + 10);
        let public = format!("52.16.{}.{}", i / 200, i % 200 + 10);
        let (description, lb, rds, name) = match i % 5 {
            0 => (
                format!("ELB app/shop{i}/50dc6c495c0c9188"),
                Some(format!("shop{i}-1.eu-west-1.elb.amazonaws.com")),
                None,
                None,
            ),
            1 => (
                "Primary network interface".to_string(),
                None,
                None,
                Some(format!("web{i}")),
            ),
            2 => (
                "RDSNetworkInterface".to_string(),
                None,
                Some(format!("db{i}.abc.eu-west-1.rds.amazonaws.com")),
                None,
            ),
            3 => (
                "Interface for NAT Gateway nat-0abc".to_string(),
                None,
                None,
                None,
            ),
            _ => (
                format!("ELB net/ingress{i}/6a3f0c1e"),
                Some(format!("ingress{i}-1.elb.eu-west-1.amazonaws.com")),
                None,
                None,
            ),
        };
        let facts = InterfaceFacts {
            interface_id: format!("eni-{i:017x}"),
            account_id: ACCOUNT.into(),
            region: "eu-west-1".into(),
            description,
            interface_type: "interface".into(),
            requester_id: None,
            public_ips: BTreeMap::from([(private.parse().unwrap(), public.parse().unwrap())]),
            instance_name: name,
            lb_dns_name: lb,
            rds_endpoint: rds,
        };
        inventory.insert_interface(&facts);
        ifaces.push((facts.interface_id.clone(), private));
    }
    for i in 0..50 {
        inventory.own_addresses.insert(
            format!("34.240.0.{i}").parse().unwrap(),
            format!("222222222222/eu-west-1/nat-{i}"),
        );
    }
    (inventory, ifaces)
}

/// One flow-log line: ~60 % public sources (some IPv6, some ours, some named), ~80 % ACCEPT,
/// ~15 % REJECT, ~5 % NODATA, a few interfaces the refresh does not know.
fn line(rng: &mut Rng, ifaces: &[(String, String)]) -> String {
    let (eni, private) = &ifaces[rng.below(ifaces.len() as u64) as usize];
    let eni = if rng.below(50) == 0 {
        "eni-0ffffffffffffffff"
    } else {
        eni.as_str()
    };
    let start = NOON + rng.below(3600);
    if rng.below(20) == 0 {
        return format!(
            "2 {ACCOUNT} {eni} - - - - - - - {start} {} - NODATA",
            start + 60
        );
    }
    let src = match rng.below(10) {
        0..=3 => format!(
            "10.{}.{}.{}",
            rng.below(256),
            rng.below(256),
            rng.below(256)
        ),
        4 => format!(
            "2a00:1450:4001:{:x}::{:x}",
            rng.below(4096),
            rng.below(65536)
        ),
        5 => format!("34.240.0.{}", rng.below(50)),
        6 => format!("85.1.{}.{}", rng.below(256), rng.below(256)),
        _ => format!(
            "{}.{}.{}.{}",
            1 + rng.below(200),
            rng.below(256),
            rng.below(256),
            1 + rng.below(254)
        ),
    };
    let dst = if src.contains(':') {
        "2a05:d018::20".to_string()
    } else {
        private.clone()
    };
    let port = [443, 443, 443, 80, 22, 5432, 8443][rng.below(7) as usize];
    let action = if rng.below(100) < 15 {
        "REJECT"
    } else {
        "ACCEPT"
    };
    format!(
        "2 {ACCOUNT} {eni} {src} {dst} {} {port} 6 {} {} {start} {} {action} OK",
        1024 + rng.below(60000),
        1 + rng.below(100),
        40 + rng.below(100_000),
        start + 60
    )
}

struct Batch {
    data: String,
    records: usize,
    uncompressed: usize,
}

fn batch(rng: &mut Rng, ifaces: &[(String, String)], records: usize) -> Batch {
    let lines: Vec<String> = (0..records).map(|_| line(rng, ifaces)).collect();
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
        today: (NOON / 86_400) as i64,
    }
}

fn full_pipeline(inventory: &Inventory, ctx: &Context, data: &str) -> usize {
    let unit = Unit::decode(data, LIMIT).unwrap();
    let message = LogsMessage::parse(&unit.bytes).unwrap();
    let messages = [message];
    let agg = aggregate(inventory, ctx, &messages);
    let write = agg.to_write(&[unit.id.as_str()], 90, time::OffsetDateTime::UNIX_EPOCH);
    black_box(&write);
    agg.summary.counted as usize
}

/// Median records/s of `f` over the batches, repeated for at least `min` wall time.
fn rate(batches: &[Batch], min: Duration, mut f: impl FnMut(&Batch)) -> f64 {
    let mut rates = Vec::new();
    let started = Instant::now();
    while started.elapsed() < min || rates.len() < 5 {
        let t = Instant::now();
        let mut records = 0;
        for b in batches {
            f(b);
            records += b.records;
        }
        rates.push(records as f64 / t.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn main() {
    // `cargo bench` passes --bench; a filter argument is accepted and ignored.
    let (inventory, ifaces) = estate();
    let format = FlowLogFormat::default_v2();
    let ctx = context(&format);
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let min = Duration::from_secs(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3),
    );

    println!("connection-tracker ingest benchmark (one thread, release build)");
    println!(
        "{:>8} {:>10} {:>16} {:>16} {:>8}",
        "records", "batch KiB", "decode rec/s", "full rec/s", "ratio"
    );
    for size in [1_000usize, 5_000, 10_000] {
        let batches: Vec<Batch> = (0..4).map(|_| batch(&mut rng, &ifaces, size)).collect();
        let counted: usize = batches
            .iter()
            .map(|b| full_pipeline(&inventory, &ctx, &b.data))
            .sum();
        assert!(counted > 0, "the mix must count something");
        let decode = rate(&batches, min, |b| {
            black_box(Unit::decode(&b.data, LIMIT).unwrap());
        });
        let full = rate(&batches, min, |b| {
            black_box(full_pipeline(&inventory, &ctx, &b.data));
        });
        println!(
            "{size:>8} {:>10} {:>16.0} {:>16.0} {:>7.0}%",
            batches[0].uncompressed / 1024,
            decode,
            full,
            100.0 * full / decode
        );
    }

    // Peak heap while one batch of 1 MiB uncompressed goes through the full pipeline.
    let mut records = 1_000;
    let one_mib = loop {
        let b = batch(&mut rng, &ifaces, records);
        if b.uncompressed >= 1 << 20 {
            break b;
        }
        records = records * (1 << 20) / b.uncompressed + 50;
    };
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let counted = full_pipeline(&inventory, &ctx, &one_mib.data);
    let peak = PEAK.load(Ordering::Relaxed) - base;
    println!(
        "peak heap for one batch of {:.2} MiB uncompressed ({} records, {} counted, {} KiB on the wire): {:.2} MiB",
        one_mib.uncompressed as f64 / (1 << 20) as f64,
        one_mib.records,
        counted,
        one_mib.data.len() / 1024,
        peak as f64 / (1 << 20) as f64
    );
}
