//! CRC-32C exactly as 0-db computes it: Castagnoli polynomial (reflected 0x82F63B78), register
//! seeded with 0 and NO final inversion (libzdb/crc32.c). This is not the textbook CRC-32C
//! check value; every payload checksum on disk uses this variant. Owns nothing else.

const POLY: u32 = 0x82F6_3B78;

const fn make_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut s = 1;
        while s < 8 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            s += 1;
        }
        i += 1;
    }
    t
}

static TABLES: [[u32; 256]; 8] = make_tables();

/// Continues a raw CRC-32C register over `data` (no inversion on entry or exit).
pub fn update(mut crc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
        crc = TABLES[7][(lo & 0xff) as usize]
            ^ TABLES[6][((lo >> 8) & 0xff) as usize]
            ^ TABLES[5][((lo >> 16) & 0xff) as usize]
            ^ TABLES[4][(lo >> 24) as usize]
            ^ TABLES[3][(hi & 0xff) as usize]
            ^ TABLES[2][((hi >> 8) & 0xff) as usize]
            ^ TABLES[1][((hi >> 16) & 0xff) as usize]
            ^ TABLES[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        crc = TABLES[0][((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

/// The payload checksum 0-db stores: raw CRC-32C of `data` with seed 0.
pub fn zdb_crc32(data: &[u8]) -> u32 {
    update(0, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytewise(data: &[u8]) -> u32 {
        let mut crc = 0u32;
        for &b in data {
            crc = TABLES[0][((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
        }
        crc
    }

    #[test]
    fn table_matches_zdb_software_table() {
        // First entries of libzdb/crc32.c's crc32c_table.
        assert_eq!(TABLES[0][1], 0xF26B_8303);
        assert_eq!(TABLES[0][2], 0xE13B_70F7);
        assert_eq!(TABLES[0][128], 0x82F6_3B78);
        assert_eq!(TABLES[0][255], 0xAD7D_5351);
    }

    #[test]
    fn relation_to_standard_crc32c() {
        // Standard CRC-32C("123456789") = 0xE3069283 = !raw(!0, data).
        assert_eq!(!update(0xFFFF_FFFF, b"123456789"), 0xE306_9283);
        assert_eq!(zdb_crc32(b""), 0);
    }

    #[test]
    fn slice_by_8_equals_bytewise() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 + 7) as u8).collect();
        for len in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 999, 1000] {
            assert_eq!(zdb_crc32(&data[..len]), bytewise(&data[..len]), "len {len}");
        }
    }
}
