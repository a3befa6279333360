//! S3 objects from the fuzzer through the object readers and the whole counting path — gzip
//! text, plain text, Parquet — into a store that keeps nothing. Beyond no panic: memory stays
//! within libFuzzer's limit whatever a footer, a page header or a gzip stream claims (the
//! decompressed cap is 1 MiB here), every read line is accounted for, and a crafted object ends
//! in a counted reason or an error, never a hang.
#![no_main]

use std::sync::OnceLock;

use connection_tracker::config::Env;
use connection_tracker::config::Parking;
use connection_tracker::ingest::s3::{parse_key, ObjectCount, ObjectError};
use connection_tracker::ingest::Ingestor;
use connection_tracker::model::{AccountRegion, InventorySnapshot};
use connection_tracker::store::{
    CounterStore, MemoryUse, ObjectMark, ObjectProgress, ParkOutcome, ParkedBlob, ParkedLines,
    ParkedPage, StoreError, WriteBatch, WriteOutcome,
};
use libfuzzer_sys::fuzz_target;

/// A store that answers an empty inventory and takes every write.
struct Nowhere;

impl CounterStore for Nowhere {
    async fn load_inventory(&self) -> Result<InventorySnapshot, StoreError> {
        Ok(InventorySnapshot::default())
    }
    async fn memory(&self) -> Result<Vec<MemoryUse>, StoreError> {
        Ok(Vec::new())
    }
    async fn write(&self, batch: &WriteBatch<'_>) -> Result<WriteOutcome, StoreError> {
        Ok(WriteOutcome {
            applied: batch.days.len() as u64,
            duplicates: 0,
        })
    }
}

/// Parks nothing (the S3 path parks no lines; an empty inventory knows no account).
impl ParkedLines for Nowhere {
    async fn park(
        &self,
        _pair: &AccountRegion,
        entries: &[ParkedBlob],
        _bound: Parking,
    ) -> Result<ParkOutcome, StoreError> {
        Ok(ParkOutcome {
            parked: 0,
            refused: entries.iter().map(|e| u64::from(e.lines)).sum(),
        })
    }
    async fn parked_pairs(&self) -> Result<Vec<AccountRegion>, StoreError> {
        Ok(Vec::new())
    }
    async fn parked_page(
        &self,
        _pair: &AccountRegion,
        _cursor: u64,
    ) -> Result<ParkedPage, StoreError> {
        Ok(ParkedPage::default())
    }
    async fn unpark(&self, _pair: &AccountRegion, _payloads: &[&str]) -> Result<(), StoreError> {
        Ok(())
    }
}

impl ObjectProgress for Nowhere {
    async fn object_mark(&self, _identity: &str) -> Result<ObjectMark, StoreError> {
        Ok(ObjectMark::default())
    }
    async fn mark_object(
        &self,
        _identity: &str,
        _mark: ObjectMark,
        _ttl: std::time::Duration,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

struct Setup {
    runtime: tokio::runtime::Runtime,
    ingestor: Ingestor<Nowhere>,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let vars = |name: &str| match name {
            "REDIS_URL" => Some("redis://127.0.0.1:1".to_string()),
            "MAX_OBJECT_DECOMPRESSED_BYTES" => Some((1 << 20).to_string()),
            _ => None,
        };
        Setup {
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
            ingestor: Ingestor::new(Nowhere, Env(vars).ingest().unwrap()),
        }
    })
}

const TEXT: &str = "AWSLogs/111111111111/vpcflowlogs/eu-west-1/2026/11/27/111111111111_vpcflowlogs_eu-west-1_fl-1_20261127T1200Z_1.log.gz";
const PARQUET: &str = "AWSLogs/111111111111/vpcflowlogs/eu-west-1/2026/11/27/111111111111_vpcflowlogs_eu-west-1_fl-1_20261127T1200Z_1.log.parquet";

fuzz_target!(|data: &[u8]| {
    let Some((&how, bytes)) = data.split_first() else {
        return;
    };
    let setup = setup();
    let key = parse_key(if how % 3 == 2 { PARQUET } else { TEXT }).unwrap();
    let count = ObjectCount {
        ingestor: &setup.ingestor,
        key: &key,
        identity: &key.from_awslogs,
        // 2026-11-27T13:00:00Z: the records' day is inside the window.
        now: time::OffsetDateTime::from_unix_timestamp(1_795_784_400).unwrap(),
        deadline: None,
        mark: None,
    };
    let counted = setup.runtime.block_on(async {
        match how % 3 {
            0 => count.gzip_text(bytes).await,
            1 => count.text(bytes).await,
            _ => count.parquet(bytes::Bytes::copy_from_slice(bytes)).await,
        }
    });
    match counted {
        Ok(counted) => {
            let s = &counted.summary;
            let parsed = s.counted + s.rejected_total() + s.skipped.values().sum::<u64>();
            assert!(s.accepted <= s.records, "{s:?}");
            assert!(s.counted <= s.accepted, "{s:?}");
            assert!(parsed <= s.records + s.control_messages, "{s:?}");
        }
        Err(ObjectError::Skipped(_) | ObjectError::Read(_)) => {}
        Err(ObjectError::Store(e)) => panic!("the store never fails here: {e}"),
    }
});
