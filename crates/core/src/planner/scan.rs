//! Byte scans over the short texts of a queue line (methods, ids, a body's keys and values):
//! eight bytes at a time. They are too short for a vector search to pay for starting (memchr's
//! call and set-up cost more than the search), and too long for a byte at a time. (For texts
//! of 30 bytes and more, such as paths, memchr already costs no more instructions.)

const ONES: u64 = u64::from_ne_bytes([1; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// The high bit of each byte of `w` below `n` (n <= 0x80). The lowest set bit is exact (a
/// borrow only marks bytes above a true one), which is all the scans read.
fn below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS
}

/// The high bit of each byte of `w` equal to `byte` (the lowest exact, as [`below`]).
fn equal(w: u64, byte: u8) -> u64 {
    below(w ^ (ONES * u64::from(byte)), 1)
}

/// The eight bytes at `i`, when there are eight.
fn word_at(b: &[u8], i: usize) -> Option<u64> {
    b.get(i..)
        .and_then(<[u8]>::first_chunk::<8>)
        .map(|w| u64::from_le_bytes(*w))
}

/// The index of the byte the lowest high bit of `hits` marks, in the word at `i`.
fn at_hit(i: usize, hits: u64) -> usize {
    i + (hits.trailing_zeros() / 8) as usize
}

/// The index of the first byte from `i` on that is not JSON whitespace.
pub(super) fn skip_space(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The index of the first byte from `i` on that ends a JSON string's plain run: a quote, a
/// backslash or a control character (below 0x20, which JSON does not allow in a string); the
/// text's length when there is none.
pub(super) fn string_stop(b: &[u8], mut i: usize) -> usize {
    while let Some(w) = word_at(b, i) {
        let hits = equal(w, b'"') | equal(w, b'\\') | below(w, 0x20);
        if hits != 0 {
            return at_hit(i, hits);
        }
        i += 8;
    }
    while i < b.len() && !matches!(b[i], b'"' | b'\\' | 0..=0x1f) {
        i += 1;
    }
    i.min(b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The eight-at-a-time scan stops where a byte-at-a-time one does, from every start, in
    /// texts of every length of plain bytes (ASCII and not) with stops put anywhere: quotes,
    /// backslashes, each control character, and the bytes next to them (0x1f, 0x20, 0x21, 0x5b,
    /// 0x5d, 0x7f, 0x80, 0xff) that a wrong mask would take for one.
    #[test]
    fn the_string_scan_stops_where_a_byte_at_a_time_one_does() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let near = [0x1f, 0x20, 0x21, b'[', b']', 0x7f, 0x80, 0xff, b'!', b'#'];
        let slow = |b: &[u8], i: usize| {
            (i..b.len())
                .find(|&k| matches!(b[k], b'"' | b'\\' | 0..=0x1f))
                .unwrap_or(b.len())
        };
        let mut stops = 0;
        for round in 0..20_000 {
            let len = round % 40;
            let mut b: Vec<u8> = (0..len)
                .map(|_| match rng.gen_range(0..10) {
                    0 => near[rng.gen_range(0..near.len())],
                    1 => rng.gen_range(0x80..=0xff),
                    _ => rng.gen_range(b'a'..=b'z'),
                })
                .collect();
            for _ in 0..rng.gen_range(0..3) {
                if len > 0 {
                    let at = rng.gen_range(0..len);
                    b[at] = match rng.gen_range(0..3) {
                        0 => b'"',
                        1 => b'\\',
                        _ => rng.gen_range(0..0x20),
                    };
                }
            }
            for i in 0..=len + 1 {
                let want = slow(&b, i);
                assert_eq!(string_stop(&b, i), want, "{b:?} from {i}");
                stops += usize::from(want < len);
            }
        }
        assert!(stops > 50_000, "{stops}");
    }
}
