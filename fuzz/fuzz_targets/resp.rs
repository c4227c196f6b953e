//! zdb's RESP request parser on arbitrary bytes, frame after frame (a pipelined buffer): it
//! either asks for more, returns a complete request whose argument ranges lie inside the
//! buffer, or refuses; the size it tells the server to reserve for an incomplete one is at
//! least what is there and bounded; it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut args = Vec::new();
    let mut at = 0;
    while at < data.len() {
        args.clear();
        match zdb::resp::parse(&data[at..], &mut args) {
            Ok(Some(used)) => {
                assert!(used > 0 && at + used <= data.len());
                for &(start, end) in &args {
                    assert!(start <= end && end <= used);
                }
                at += used;
            }
            Ok(None) => {
                let need = zdb::resp::pending(&data[at..]);
                assert!(need >= data.len() - at);
                assert!(need <= zdb::resp::MAX_REQUEST + 64 || need == data.len() - at);
                break;
            }
            Err(_) => break,
        }
    }
});
