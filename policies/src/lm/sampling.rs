//! Choosing the next token: greedy, or temperature with top-k and top-p, from a seeded
//! generator of our own (so that the same seed gives the same tokens on every platform and
//! every version of every dependency).

use super::GenParams;

/// SplitMix64: tiny, fast, and fully specified.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Samples token ids from logits according to [`GenParams`].
#[derive(Debug, Clone)]
pub struct Sampler {
    temperature: f64,
    top_p: f64,
    top_k: usize,
    rng: Rng,
}

impl Sampler {
    pub fn new(params: &GenParams) -> Self {
        Sampler {
            temperature: params.temperature,
            top_p: params.top_p,
            top_k: params.top_k.unwrap_or(0),
            rng: Rng::new(params.seed),
        }
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature.is_nan() || self.temperature <= 1e-5 || self.top_k == 1
    }

    /// The next token id. NaN logits count as impossible.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if logits.is_empty() {
            return 0;
        }
        if self.is_greedy() {
            return argmax(logits);
        }
        let t = self.temperature;
        let mut cand: Vec<(u32, f64)> = logits
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.is_nan())
            .map(|(i, &l)| (i as u32, f64::from(l) / t))
            .collect();
        if cand.is_empty() {
            return 0;
        }
        // Highest first; ties broken by the lower id, so the order is total and deterministic.
        let order = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if self.top_k > 0 && self.top_k < cand.len() {
            cand.select_nth_unstable_by(self.top_k - 1, order);
            cand.truncate(self.top_k);
        }
        cand.sort_by(order);
        let max = cand[0].1;
        let mut probs: Vec<f64> = cand.iter().map(|(_, l)| (l - max).exp()).collect();
        let total: f64 = probs.iter().sum();
        for p in &mut probs {
            *p /= total;
        }
        let mut keep = probs.len();
        if self.top_p > 0.0 && self.top_p < 1.0 {
            let mut acc = 0.0;
            for (i, p) in probs.iter().enumerate() {
                acc += p;
                if acc >= self.top_p {
                    keep = i + 1;
                    break;
                }
            }
        }
        let mass: f64 = probs[..keep].iter().sum();
        let mut u = self.rng.next_f64() * mass;
        for (i, p) in probs[..keep].iter().enumerate() {
            if u < *p {
                return cand[i].0;
            }
            u -= p;
        }
        cand[keep - 1].0
    }
}

/// Index of the largest logit (the first one on ties); NaN never wins.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0usize;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &v) in logits.iter().enumerate() {
        if v > best_v {
            best = i;
            best_v = v;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f64, top_p: f64, top_k: Option<usize>, seed: u64) -> GenParams {
        GenParams {
            temperature,
            top_p,
            top_k,
            seed,
            ..GenParams::default()
        }
    }

    #[test]
    fn greedy_picks_argmax() {
        let mut s = Sampler::new(&params(0.0, 1.0, None, 1));
        assert_eq!(s.sample(&[0.1, 3.0, f32::NAN, 2.0]), 1);
    }

    #[test]
    fn same_seed_same_tokens() {
        let logits: Vec<f32> = (0..50).map(|i| ((i * 37) % 11) as f32 * 0.3).collect();
        let run = |seed| {
            let mut s = Sampler::new(&params(1.0, 0.95, Some(30), seed));
            (0..40).map(|_| s.sample(&logits)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn top_k_and_top_p_restrict_the_choice() {
        let logits = [5.0f32, 4.0, 1.0, 0.0, -1.0];
        let mut s = Sampler::new(&params(1.0, 1.0, Some(2), 3));
        for _ in 0..200 {
            assert!(s.sample(&logits) < 2);
        }
        // p(0) ≈ 0.72, p(1) ≈ 0.26: top_p 0.5 keeps only token 0.
        let mut s = Sampler::new(&params(1.0, 0.5, None, 3));
        for _ in 0..200 {
            assert_eq!(s.sample(&logits), 0);
        }
    }

    #[test]
    fn sampling_follows_the_distribution() {
        let logits = [0.0f32, (3.0f32).ln()]; // p = 0.25, 0.75
        let mut s = Sampler::new(&params(1.0, 1.0, None, 11));
        let ones = (0..4000).filter(|_| s.sample(&logits) == 1).count();
        assert!((2800..3200).contains(&ones), "{ones}");
    }
}
