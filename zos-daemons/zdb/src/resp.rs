//! RESP framing as 0-db speaks it: requests are arrays of bulk strings only (no inline
//! commands), replies are written into a reusable buffer. The parser never allocates per
//! request: it records argument ranges into a caller-owned vector. Never panics on input.

/// Largest single argument accepted (0-db: 8 MiB).
pub const MAX_BULK: usize = crate::format::MAX_PAYLOAD;
/// Most arguments in one request (0-db: 1024).
pub const MAX_ARGS: usize = 1024;
/// Cap on one whole request, so a client cannot make us buffer 1024 x 8 MiB.
pub const MAX_REQUEST: usize = MAX_BULK + 1024 * 1024;
/// Longest `*N`/`$N` header line we wait for.
const MAX_LINE: usize = 32;

/// A request that cannot be served. `close()` says whether the connection must be dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RespError {
    /// First byte is not `*`.
    NotArray,
    /// `*0` (or an unparsable count): the line is consumed, the connection continues.
    MissingArgs(usize),
    TooManyArgs,
    /// An argument header does not start with `$` or is not a number.
    Malformed,
    PayloadTooBig,
    /// `*-N`: 0-db answers "Internal memory error" and drops the connection.
    NegativeCount,
}

impl RespError {
    pub fn message(&self) -> &'static str {
        match self {
            RespError::NotArray => "Malformed request, array expected",
            RespError::MissingArgs(_) => "Missing arguments",
            RespError::TooManyArgs => "Too many arguments",
            RespError::Malformed => "Malformed query string",
            RespError::PayloadTooBig => "Payload too big",
            RespError::NegativeCount => "Internal memory error",
        }
    }

    pub fn close(&self) -> bool {
        !matches!(self, RespError::MissingArgs(_))
    }
}

/// Reads a header line starting at `at` (after the type byte). Ok(None) = need more bytes.
fn line(buf: &[u8], at: usize) -> Result<Option<(i64, usize)>, ()> {
    let rest = &buf[at.min(buf.len())..];
    let window = &rest[..rest.len().min(MAX_LINE)];
    let Some(nl) = window.iter().position(|&b| b == b'\n') else {
        if rest.len() >= MAX_LINE {
            return Err(());
        }
        return Ok(None);
    };
    let mut digits = &window[..nl];
    if digits.last() == Some(&b'\r') {
        digits = &digits[..digits.len() - 1];
    }
    // atoi-like: optional sign then digits; anything else is malformed.
    let (neg, d) = match digits.first() {
        Some(b'-') => (true, &digits[1..]),
        _ => (false, digits),
    };
    if d.is_empty() || d.len() > 18 || !d.iter().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    let mut v: i64 = 0;
    for &b in d {
        v = v * 10 + (b - b'0') as i64;
    }
    Ok(Some((if neg { -v } else { v }, at + nl + 1)))
}

/// Parses one request from the front of `buf`. On success returns the number of bytes
/// consumed and fills `args` with (start, end) ranges into `buf`. Ok(None) = incomplete.
pub fn parse(buf: &[u8], args: &mut Vec<(usize, usize)>) -> Result<Option<usize>, RespError> {
    args.clear();
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] != b'*' {
        return Err(RespError::NotArray);
    }
    let (count, mut pos) = match line(buf, 1) {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(None),
        Err(()) => {
            // Unparsable count: consume through the newline if there is one.
            return match buf.iter().position(|&b| b == b'\n') {
                Some(nl) => Err(RespError::MissingArgs(nl + 1)),
                None => Err(RespError::Malformed),
            };
        }
    };
    if count < 0 {
        return Err(RespError::NegativeCount);
    }
    if count == 0 {
        return Err(RespError::MissingArgs(pos));
    }
    if count as usize > MAX_ARGS {
        return Err(RespError::TooManyArgs);
    }
    for _ in 0..count {
        if pos >= buf.len() {
            return Ok(None);
        }
        if buf[pos] != b'$' {
            return Err(RespError::Malformed);
        }
        let (len, after) = match line(buf, pos + 1) {
            Ok(Some(v)) => v,
            Ok(None) => return Ok(None),
            Err(()) => return Err(RespError::Malformed),
        };
        if len < 0 {
            return Err(RespError::Malformed);
        }
        let len = len as usize;
        if len > MAX_BULK {
            return Err(RespError::PayloadTooBig);
        }
        if after + len > MAX_REQUEST {
            return Err(RespError::PayloadTooBig);
        }
        // 0-db reads length + 2 bytes and does not check the CRLF.
        if after + len + 2 > buf.len() {
            return Ok(None);
        }
        args.push((after, after + len));
        pos = after + len + 2;
    }
    Ok(Some(pos))
}

/// How many bytes the incomplete request at the front of `buf` needs in all, as far as its
/// headers tell (at least `buf.len()`): the server reserves that much before reading on, and
/// refuses early a request too large for the session. Headers that do not parse count as what
/// is there ([`parse`] refuses them).
pub fn pending(buf: &[u8]) -> usize {
    let declared = (|| {
        if buf.first() != Some(&b'*') {
            return None;
        }
        let (count, mut pos) = line(buf, 1).ok()??;
        for _ in 0..count.clamp(0, MAX_ARGS as i64) {
            if buf.get(pos) != Some(&b'$') {
                return Some(pos);
            }
            let Ok(Some((len, after))) = line(buf, pos + 1) else {
                return Some(pos + 1);
            };
            let len = usize::try_from(len).ok()?.min(MAX_BULK);
            pos = after.saturating_add(len + 2);
            if pos > buf.len() {
                return Some(pos);
            }
        }
        Some(pos)
    })();
    declared
        .unwrap_or(0)
        .min(MAX_REQUEST + MAX_LINE)
        .max(buf.len())
}

pub fn simple(out: &mut Vec<u8>, s: &str) {
    out.push(b'+');
    out.extend_from_slice(s.as_bytes());
    out.extend_from_slice(b"\r\n");
}

pub fn simple_bytes(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'+');
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
}

pub fn error(out: &mut Vec<u8>, s: &str) {
    out.push(b'-');
    out.extend_from_slice(s.as_bytes());
    out.extend_from_slice(b"\r\n");
}

pub fn nil(out: &mut Vec<u8>) {
    out.extend_from_slice(b"$-1\r\n");
}

fn number(out: &mut Vec<u8>, v: i64) {
    let mut tmp = [0u8; 24];
    let mut i = tmp.len();
    let neg = v < 0;
    let mut u = v.unsigned_abs();
    loop {
        i -= 1;
        tmp[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        tmp[i] = b'-';
    }
    out.extend_from_slice(&tmp[i..]);
}

pub fn integer(out: &mut Vec<u8>, v: i64) {
    out.push(b':');
    number(out, v);
    out.extend_from_slice(b"\r\n");
}

pub fn bulk_header(out: &mut Vec<u8>, len: usize) {
    out.push(b'$');
    number(out, len as i64);
    out.extend_from_slice(b"\r\n");
}

pub fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    bulk_header(out, b.len());
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

pub fn array(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    number(out, n as i64);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_of<'a>(buf: &'a [u8], a: &[(usize, usize)]) -> Vec<&'a [u8]> {
        a.iter().map(|&(s, e)| &buf[s..e]).collect()
    }

    #[test]
    fn parses_pipelined_requests() {
        let buf = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n";
        let mut a = Vec::new();
        let n = parse(buf, &mut a).unwrap().unwrap();
        assert_eq!(args_of(buf, &a), vec![&b"GET"[..], b"k"]);
        let n2 = parse(&buf[n..], &mut a).unwrap().unwrap();
        assert_eq!(n + n2, buf.len());
    }

    #[test]
    fn incomplete_and_errors() {
        let mut a = Vec::new();
        for cut in 0..20 {
            let buf = &b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"[..cut];
            assert_eq!(parse(buf, &mut a), Ok(None), "cut {cut}");
        }
        assert_eq!(parse(b"PING\r\n", &mut a), Err(RespError::NotArray));
        assert_eq!(parse(b"*0\r\n", &mut a), Err(RespError::MissingArgs(4)));
        assert_eq!(parse(b"*2000\r\n", &mut a), Err(RespError::TooManyArgs));
        assert_eq!(parse(b"*1\r\n:3\r\n", &mut a), Err(RespError::Malformed));
        assert_eq!(
            parse(b"*1\r\n$99999999\r\n", &mut a),
            Err(RespError::PayloadTooBig)
        );
        assert_eq!(parse(b"*1\r\n$-1\r\n", &mut a), Err(RespError::Malformed));
    }

    #[test]
    fn pending_tells_the_declared_size() {
        assert_eq!(pending(b""), 0);
        assert_eq!(pending(b"*2\r\n"), 4);
        assert_eq!(pending(b"*2\r\n$3\r\nGET\r\n$100\r\n"), 13 + 6 + 102);
        // a complete first argument, the second's header not yet there
        assert_eq!(pending(b"*2\r\n$3\r\nGET\r\n"), 13);
        assert!(pending(b"*1\r\n$8388608\r\n") > MAX_BULK);
        assert!(pending(b"*1\r\n$8388608\r\n") <= MAX_REQUEST + MAX_LINE);
        assert_eq!(pending(b"PING"), 4);
    }

    #[test]
    fn writers() {
        let mut o = Vec::new();
        integer(&mut o, -12);
        bulk(&mut o, b"ab");
        nil(&mut o);
        assert_eq!(o, b":-12\r\n$2\r\nab\r\n$-1\r\n");
    }

    /// Fuzz-style: bounded seeded random and mutated inputs never panic and never claim to
    /// consume more than they were given.
    #[test]
    fn random_input_never_panics() {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let seeds: [&[u8]; 4] = [
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n",
            b"*1\r\n$4\r\nPING\r\n",
            b"*2\r\n$6\r\nSELECT\r\n$7\r\ndefault\r\n",
            b"*-1\r\n$\r\n*\r\n",
        ];
        let alphabet = b"*$\r\n-0123456789:+abc";
        let mut a = Vec::new();
        for round in 0..20_000u32 {
            let mut buf: Vec<u8> = seeds[(round % 4) as usize].to_vec();
            let muts = (next() % 6) as usize;
            for _ in 0..muts {
                let r = next();
                let i = (r as usize >> 8) % (buf.len() + 1);
                match r % 4 {
                    0 if i < buf.len() => buf[i] = alphabet[(r >> 32) as usize % alphabet.len()],
                    1 => buf.insert(i.min(buf.len()), (r >> 24) as u8),
                    2 if i < buf.len() => {
                        buf.remove(i);
                    }
                    _ => buf.truncate(i),
                }
            }
            if round % 7 == 0 {
                buf = (0..(next() % 64)).map(|_| next() as u8).collect();
            }
            let mut off = 0;
            for _ in 0..64 {
                match parse(&buf[off..], &mut a) {
                    Ok(Some(n)) => {
                        assert!(n > 0 && off + n <= buf.len());
                        for &(s, e) in &a {
                            assert!(s <= e && e <= buf.len() - off);
                        }
                        off += n;
                    }
                    Ok(None) => break,
                    Err(RespError::MissingArgs(n)) => {
                        assert!(n > 0 && off + n <= buf.len());
                        off += n;
                    }
                    Err(_) => break,
                }
            }
        }
    }
}
