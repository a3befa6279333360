//! The refresh function's two scheduled runs. [`Refresh::run`]: the account/regions
//! ([`super::refresh`]) and AWS's address ranges for the S3 rule (at most hourly, the last
//! good copy kept). [`Refresh::archive`], on its own schedule: closed days to the evidence
//! archive. The function's `main` builds a [`Refresh`] once and calls one per event.

use time::OffsetDateTime;

use super::archive::{archive_closed_days, ArchiveError, ArchiveReport, ReviewDay};
use super::discovery::{AccountList, Discovery, Resolver};
use super::ip_ranges::{refresh_s3_ranges, IpRangesSource};
use super::{refresh_until, RefreshError, RefreshReport};
use crate::config::{ArchiveConfig, IpRangesConfig, RefreshConfig};
use crate::store::{
    ArchiveMarks, ClosedDayRows, EvidenceSink, ReadStore, RefreshStore, StoreError,
};

/// What a run leaves after the account/regions, before the invocation's deadline: reverse DNS
/// and AWS's ranges.
pub const AFTER_REGIONS: std::time::Duration = std::time::Duration::from_secs(30);

/// What an archive run leaves before the invocation's deadline: the last day's upload.
pub const AFTER_ARCHIVE: std::time::Duration = std::time::Duration::from_secs(30);

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Refresh(#[from] RefreshError),
    #[error("AWS's address ranges: {0}")]
    Ranges(#[from] StoreError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
}

/// Everything a run uses, built once.
pub struct Refresh<'a, A, D, R, S, I, E> {
    pub accounts: &'a A,
    pub discovery: &'a D,
    pub resolver: &'a R,
    pub store: &'a S,
    pub config: &'a RefreshConfig,
    /// Where AWS's `ip-ranges.json` comes from, and how often.
    pub ranges: &'a I,
    pub ranges_config: &'a IpRangesConfig,
    /// The evidence archive (`ARCHIVE_BUCKET`), when configured.
    pub archive: Option<ArchiveTo<'a, E>>,
}

/// Where and how closed days are archived.
pub struct ArchiveTo<'a, E> {
    pub config: &'a ArchiveConfig,
    pub sink: &'a E,
    /// The day's exposure review (`connection_tracker::api::review_day`).
    pub review: ReviewDay,
}

impl<A, D, R, S, I, E> Refresh<'_, A, D, R, S, I, E>
where
    A: AccountList,
    D: Discovery,
    R: Resolver,
    S: RefreshStore + ReadStore + ArchiveMarks + ClosedDayRows,
    I: IpRangesSource,
    E: EvidenceSink,
{
    /// One run at `now`: account/regions (none started that could not finish before
    /// `deadline`) and AWS's ranges.
    pub async fn run(
        &self,
        now: OffsetDateTime,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<RefreshReport, RunError> {
        let mut report = refresh_until(
            self.accounts,
            self.discovery,
            self.resolver,
            self.store,
            self.config,
            deadline,
        )
        .await?;
        report.s3_ranges =
            refresh_s3_ranges(self.ranges, self.store, self.ranges_config, now).await?;
        Ok(report)
    }

    /// One archive run at `now`, no day begun or finished after `deadline`; `None` without
    /// `ARCHIVE_BUCKET`.
    pub async fn archive(
        &self,
        now: OffsetDateTime,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Option<ArchiveReport>, RunError> {
        let Some(to) = &self.archive else {
            return Ok(None);
        };
        let how = (to.config, to.review);
        Ok(Some(
            archive_closed_days(self.store, to.sink, how, now, deadline).await?,
        ))
    }
}
