//! A format and lines, both from the fuzzer: the first line is a `LogFormat` (`${field} …`),
//! the others are records read with it and with the v2 default.
#![no_main]

use connection_tracker::rules::flowlog::FlowLogFormat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.lines();
    let spec = lines.next().unwrap_or("");
    let v2 = FlowLogFormat::default_v2();
    let custom = FlowLogFormat::parse(spec).ok();
    if let Some(format) = &custom {
        // A format reads back as itself.
        let again = FlowLogFormat::parse(&format.to_string()).expect("a format's text parses");
        assert_eq!(again.len(), format.len());
    }
    for line in lines {
        let _ = v2.parse_line(line);
        if let Some(format) = &custom {
            let _ = format.parse_line(line);
        }
    }
});
