//! Stop strings and incremental text: generated text is released piece by piece, holding back
//! whatever could still turn out to be the start of a stop string (or an incomplete UTF-8
//! character), and cut before the first stop string.

/// Tracks the generated text and how much of it has been released.
#[derive(Debug, Clone, Default)]
pub struct StopScanner {
    stops: Vec<String>,
    text: String,
    released: usize,
    stopped: Option<usize>,
}

impl StopScanner {
    pub fn new(stops: &[String]) -> Self {
        StopScanner {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            ..Self::default()
        }
    }

    /// Replace the text generated so far (the detokenized output, which may change at the end
    /// as tokens complete a character) and return the newly releasable piece. After a stop
    /// string is found, [`stopped`](Self::stopped) is true and the text ends before it.
    pub fn update(&mut self, full_text: &str) -> String {
        if self.stopped.is_some() {
            return String::new();
        }
        // Text ending in U+FFFD may be an incomplete multi-byte character: wait for more.
        let stable = full_text.trim_end_matches('\u{FFFD}');
        self.text = full_text.to_string();
        if let Some(cut) = self.find_stop(full_text) {
            self.stopped = Some(cut);
            self.text.truncate(cut);
            return self.release(cut);
        }
        let mut upto = stable.len();
        // Hold back the longest suffix that is a proper prefix of a stop string.
        for s in &self.stops {
            for k in (1..s.len()).rev() {
                if !s.is_char_boundary(k) {
                    continue;
                }
                if stable.ends_with(&s[..k]) {
                    upto = upto.min(stable.len() - k);
                    break;
                }
            }
        }
        self.release(upto)
    }

    /// The rest of the text, when generation has ended.
    pub fn finish(&mut self) -> String {
        let end = self.text.len();
        self.release(end)
    }

    pub fn stopped(&self) -> bool {
        self.stopped.is_some()
    }

    /// The text so far (cut before a stop string, once one is found).
    pub fn text(&self) -> &str {
        &self.text
    }

    fn find_stop(&self, text: &str) -> Option<usize> {
        // Only the unreleased tail (plus overlap) can hold a new match.
        let from = self
            .released
            .saturating_sub(self.stops.iter().map(String::len).max().unwrap_or(0));
        let mut from = from.min(text.len());
        while !text.is_char_boundary(from) {
            from -= 1;
        }
        self.stops
            .iter()
            .filter_map(|s| text[from..].find(s.as_str()).map(|i| from + i))
            .min()
    }

    fn release(&mut self, upto: usize) -> String {
        let upto = upto.min(self.text.len());
        if upto <= self.released {
            return String::new();
        }
        let mut end = upto;
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let piece = self.text[self.released..end].to_string();
        self.released = end;
        piece
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(stops: &[&str], pieces: &[&str]) -> (Vec<String>, String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut sc = StopScanner::new(&stops);
        let mut full = String::new();
        let mut out = Vec::new();
        for p in pieces {
            full.push_str(p);
            out.push(sc.update(&full));
            if sc.stopped() {
                break;
            }
        }
        out.push(sc.finish());
        (out, sc.text().to_string(), sc.stopped())
    }

    #[test]
    fn no_stops_releases_everything() {
        let (out, text, stopped) = feed(&[], &["ab", "cd"]);
        assert_eq!(out.concat(), "abcd");
        assert_eq!(text, "abcd");
        assert!(!stopped);
    }

    #[test]
    fn stop_split_across_tokens() {
        let (out, text, stopped) = feed(&["\n```"], &["x = 1", "\n`", "``", "more"]);
        assert_eq!(text, "x = 1");
        assert_eq!(out.concat(), "x = 1");
        assert_eq!(out[1], "", "the partial stop is held back");
        assert!(stopped);
    }

    #[test]
    fn false_alarm_is_released() {
        let (out, text, stopped) = feed(&["STOP"], &["ST", "OCK"]);
        assert_eq!(out, vec!["", "STOCK", ""]);
        assert_eq!(text, "STOCK");
        assert!(!stopped);
    }

    #[test]
    fn incomplete_utf8_waits() {
        let stops: Vec<String> = vec![];
        let mut sc = StopScanner::new(&stops);
        assert_eq!(sc.update("caf\u{FFFD}"), "caf");
        assert_eq!(sc.update("café"), "é");
    }
}
