//! Every setting's default, named once: the readers use these, the tests and the template
//! (`template.yaml`, `samconfig.toml`) say the same numbers.

pub const DEFAULT_AWS_IP_RANGES_URL: &str = "https://ip-ranges.amazonaws.com/ip-ranges.json";
/// How often AWS's ranges are fetched again, in minutes (`AWS_IP_RANGES_MAX_AGE_MINUTES`).
pub const DEFAULT_AWS_IP_RANGES_MAX_AGE_MINUTES: u64 = 60;
pub const DEFAULT_RETENTION_DAYS: u32 = 90;
/// Longer than any automatic retry path (Lambda async retries: 6 h; Kinesis: the record age).
pub const DEFAULT_DEDUP_WINDOW_HOURS: u64 = 72;
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 32 * 1024 * 1024;
pub const DEFAULT_MAX_BATCH_DECOMPRESSED_BYTES: usize = 128 * 1024 * 1024;
/// One S3 text object, decompressed: AWS writes at most 75 MB per flow-log file, some 10× that
/// as text; a gzip bomb stops here.
pub const DEFAULT_MAX_OBJECT_DECOMPRESSED_BYTES: u64 = 1 << 30;
pub const DEFAULT_INVENTORY_TTL_SECONDS: u64 = 60;
pub const DEFAULT_DEAD_LETTER_PREFIX: &str = "dead-letter/";
pub const DEFAULT_REDIS_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_MAX_SOURCES_PER_ENDPOINT: u32 = 2000;
pub const DEFAULT_MAX_PREFIXES_PER_ENDPOINT: u32 = 1000;
pub const DEFAULT_MAX_UNNAMED_PER_DAY: u32 = 100_000;
pub const DEFAULT_MAX_PORTS_PER_ENDPOINT: u32 = 256;
pub const DEFAULT_MAX_ENDPOINTS_PER_ACCOUNT_REGION: u32 = 10_000;
/// Below the 80 % alarm's next step: room for the batches in flight when the line is crossed.
pub const DEFAULT_CACHE_REFUSE_AT_PERCENT: u8 = 90;
/// Lines of interfaces the refresh has not seen yet, parked per account/region until it has.
pub const DEFAULT_MAX_PARKED_LINES_PER_ACCOUNT_REGION: u32 = 100_000;
/// How long a parked line waits for the refresh (which runs every 5 minutes).
pub const DEFAULT_PARKED_LINES_TTL_SECONDS: u64 = 3_600;
pub const DEFAULT_ARCHIVE_PREFIX: &str = "connections/";
pub const DEFAULT_ARCHIVE_AFTER_HOURS: u64 = 48;
pub const DEFAULT_ARCHIVE_MAX_DAYS_PER_RUN: usize = 7;
pub const DEFAULT_ROLE_NAME: &str = "connection-tracker-reader";
pub const DEFAULT_REFRESH_CONCURRENCY: usize = 32;
pub const DEFAULT_REGION_TIMEOUT_SECONDS: u64 = 30;
pub const DEFAULT_DNS_MAX_LOOKUPS: usize = 200;
pub const DEFAULT_DNS_BUDGET_SECONDS: u64 = 10;
pub const DEFAULT_DNS_TTL_SECONDS: u64 = 86_400;
pub const DEFAULT_DNS_NEGATIVE_TTL_SECONDS: u64 = 3_600;
pub const DEFAULT_API_MAX_RANGE_DAYS: u32 = 31;
/// Rows one API request reads at most: about 170 B of heap each as read, a few times that as
/// answered (`cargo bench --bench archive` measures the read), well inside the function's 512 MB.
pub const DEFAULT_API_MAX_ROWS: usize = 500_000;
