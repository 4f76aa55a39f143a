//! String similarity of two patches, for the paper reward's R_sim.
//!
//! `ratio(a, b) = 2·LCS(a, b) / (|a| + |b|)` over Unicode scalar values, where LCS is the length
//! of the longest common subsequence: the measure Python's `difflib.SequenceMatcher.ratio()`
//! approximates (difflib finds matching blocks greedily and skips "junk", so it can be lower,
//! never higher). 1 for two empty strings. The LCS is computed bit-parallel (Allison–Dix /
//! Hyyrö), O(|a|·|b|/64) time and O(|a|/64) memory, so two 50 KB patches take milliseconds.

use std::collections::HashMap;

/// Length of the longest common subsequence of `a` and `b`.
pub fn lcs_len(a: &[char], b: &[char]) -> usize {
    // Bit i of a column stands for a[i]; the shorter string indexes the bits.
    let (a, b) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if a.is_empty() {
        return 0;
    }
    let words = a.len().div_ceil(64);
    let mut masks: HashMap<char, Vec<u64>> = HashMap::new();
    for (i, c) in a.iter().enumerate() {
        masks.entry(*c).or_insert_with(|| vec![0; words])[i / 64] |= 1 << (i % 64);
    }
    // V has a 0 bit for every position that ends a common subsequence step: LCS = zero bits.
    let mut v = vec![u64::MAX; words];
    for c in b {
        let Some(m) = masks.get(c) else { continue };
        // V' = (V + (V & M)) | (V & !M), with the addition carried across words.
        let mut carry = 0u64;
        for w in 0..words {
            let u = v[w] & m[w];
            let (s1, c1) = v[w].overflowing_add(u);
            let (s2, c2) = s1.overflowing_add(carry);
            carry = u64::from(c1 || c2);
            v[w] = s2 | (v[w] & !m[w]);
        }
    }
    // Only the bits that stand for `a` count: carries may flip the spare bits above them.
    let tail = a.len() % 64;
    let last = if tail == 0 {
        u64::MAX
    } else {
        (1u64 << tail) - 1
    };
    v.iter()
        .enumerate()
        .map(|(w, bits)| {
            let live = if w + 1 == words { last } else { u64::MAX };
            (!bits & live).count_ones() as usize
        })
        .sum()
}

/// `2·LCS / (|a| + |b|)`, in [0, 1].
pub fn ratio(a: &str, b: &str) -> f64 {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let total = a.len() + b.len();
    if total == 0 {
        return 1.0;
    }
    2.0 * lcs_len(&a, &b) as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook dynamic programme, to check the bit-parallel one against.
    fn lcs_dp(a: &[char], b: &[char]) -> usize {
        let mut row = vec![0usize; b.len() + 1];
        for x in a {
            let mut diag = 0;
            for (j, y) in b.iter().enumerate() {
                let up = row[j + 1];
                row[j + 1] = if x == y { diag + 1 } else { up.max(row[j]) };
                diag = up;
            }
        }
        row[b.len()]
    }

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn known_values() {
        assert_eq!(lcs_len(&chars("ABCBDAB"), &chars("BDCABA")), 4);
        assert_eq!(ratio("", ""), 1.0);
        assert_eq!(ratio("abc", ""), 0.0);
        assert_eq!(ratio("abc", "abc"), 1.0);
        // difflib.SequenceMatcher(None, "abcd", "bcde").ratio() == 0.75
        assert_eq!(ratio("abcd", "bcde"), 0.75);
        assert_eq!(ratio("ab", "cd"), 0.0);
        assert_eq!(
            ratio("é日本", "日本x"),
            2.0 * 2.0 / 6.0,
            "characters, not bytes"
        );
    }

    #[test]
    fn matches_the_dynamic_programme_across_word_boundaries() {
        // A small deterministic generator (no dependency): strings over a 4-letter alphabet,
        // lengths around 63, 64, 65, 128 and 200 bits, where carries cross words.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for (la, lb) in [
            (63, 70),
            (64, 64),
            (65, 3),
            (128, 129),
            (200, 150),
            (1, 300),
        ] {
            for _ in 0..5 {
                let a: Vec<char> = (0..la)
                    .map(|_| b"acgt"[(next() % 4) as usize] as char)
                    .collect();
                let b: Vec<char> = (0..lb)
                    .map(|_| b"acgt"[(next() % 4) as usize] as char)
                    .collect();
                assert_eq!(lcs_len(&a, &b), lcs_dp(&a, &b), "{la}×{lb}");
                assert_eq!(lcs_len(&b, &a), lcs_dp(&a, &b), "symmetric");
            }
        }
        let long = "a".repeat(130);
        assert_eq!(lcs_len(&chars(&long), &chars(&long)), 130);
    }
}
