//! A deployment as a node receives it: parse, validate, hash, verify against no keys, and diff
//! against itself as an update. Nothing may panic on any input.
#![no_main]

use std::collections::HashMap;

use gridtypes::Deployment;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut d) = Deployment::from_json(data) else {
        return;
    };
    let _ = d.validate();
    let _ = d.validate_create();
    let _ = d.challenge_hash_hex();
    let _ = d.used_capacity();
    let keys: HashMap<u32, Vec<u8>> = HashMap::new();
    let _ = d.verify(&keys);
    let old = d.clone();
    let _ = old.upgrade(&mut d);
});
