//! Reasons as types: every `Rejected.*`, `Skipped.*`, `Flagged.*` and object-skip name in the
//! summaries and metrics comes from a variant's [`name`](Reject::name), never from a message's
//! text, so rewording a message never renames a metric.

/// Declares a reason enum: each variant with its metric name, and `ALL` in that order.
macro_rules! reasons {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The metric and summary name.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }
    };
}
pub(crate) use reasons;

reasons! {
    /// Why a flow-log line could not be read (`Rejected.<name>`).
    pub enum Reject {
        /// Fewer or more fields than the format names.
        FieldCount => "field_count",
        /// An address field that is not an IPv4 or IPv6 address.
        BadAddress => "bad_address",
        /// A number field that is not a non-negative integer in range.
        BadNumber => "bad_number",
        /// `action` or `log-status` outside AWS's words.
        BadValue => "bad_value",
        /// `start` outside [now − retention − 1 day, now + 1 day].
        StartOutOfRange => "start_out_of_range",
        /// A line of an S3 object longer than a flow-log line can be.
        LineTooLong => "line_too_long",
    }
}

reasons! {
    /// Counted lines with something to look at (`Flagged.<name>`).
    pub enum Flag {
        /// The record's `account-id` is not the interface's owner; counted under the owner.
        AccountMismatch => "account_mismatch",
        /// The record's `dstaddr` is not an address the refresh saw on the interface; counted
        /// under the interface's own name.
        UnknownDestinationAddress => "unknown_destination_address",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_in_declaration_order() {
        let names: Vec<&str> = Reject::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(
            names,
            [
                "field_count",
                "bad_address",
                "bad_number",
                "bad_value",
                "start_out_of_range",
                "line_too_long"
            ]
        );
        let flags: Vec<&str> = Flag::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(flags, ["account_mismatch", "unknown_destination_address"]);
    }
}
