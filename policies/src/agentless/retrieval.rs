//! Lexical retrieval: BM25 (the `bm25` crate's scorer) over file or function contents against
//! the problem statement, with a tokenizer for code: identifiers are kept whole and also split
//! at `_` and camel-case humps, so `to_roman` in an issue finds `def to_roman` and `ToRoman`.

use bm25::{EmbedderBuilder, Scorer, Tokenizer};

/// Words too common in issues and code to tell files apart.
const STOP: &[&str] = &[
    "the", "a", "an", "and", "or", "of", "to", "in", "is", "it", "for", "on", "as", "be", "by",
    "this", "that", "with", "but", "not", "are", "was", "if", "self", "def", "return", "import",
    "from", "class", "none", "true", "false",
];

/// Splits code and prose into lower-case tokens.
#[derive(Debug, Clone, Copy, Default)]
pub struct CodeTokenizer;

impl Tokenizer for CodeTokenizer {
    fn tokenize(&self, input_text: &str) -> Vec<String> {
        tokenize(input_text)
    }
}

pub fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |t: &str| {
        let t = t.to_lowercase();
        if t.len() > 1 && !t.chars().all(|c| c.is_ascii_digit()) && !STOP.contains(&t.as_str()) {
            out.push(t);
        }
    };
    for ident in text.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        if ident.is_empty() {
            continue;
        }
        push(ident);
        let parts = split_identifier(ident);
        if parts.len() > 1 {
            for p in &parts {
                push(p);
            }
        }
    }
    out
}

/// `to_roman` → [to, roman]; `OutOfRange` → [Out, Of, Range]; `HTTPError` → [HTTP, Error].
fn split_identifier(ident: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    for piece in ident.split('_').filter(|p| !p.is_empty()) {
        let chars: Vec<(usize, char)> = piece.char_indices().collect();
        let mut start = 0;
        for i in 1..chars.len() {
            let (prev, cur) = (chars[i - 1].1, chars[i].1);
            let next_lower = chars.get(i + 1).is_some_and(|(_, c)| c.is_lowercase());
            let boundary = (prev.is_lowercase() && cur.is_uppercase())
                || (prev.is_uppercase() && cur.is_uppercase() && next_lower)
                || (prev.is_alphabetic() && cur.is_ascii_digit());
            if boundary {
                parts.push(&piece[start..chars[i].0]);
                start = chars[i].0;
            }
        }
        parts.push(&piece[start..]);
    }
    parts
}

/// Scores every document against `query`; returns `(index, score)` best first, documents that
/// share no token with the query last (score 0), ties in input order.
pub fn rank(query: &str, documents: &[&str]) -> Vec<(usize, f32)> {
    if documents.is_empty() {
        return Vec::new();
    }
    let embedder = EmbedderBuilder::<u32, CodeTokenizer>::with_tokenizer_and_fit_to_corpus(
        CodeTokenizer,
        documents,
    )
    .build();
    let mut scorer = Scorer::<usize>::new();
    for (i, d) in documents.iter().enumerate() {
        scorer.upsert(&i, embedder.embed(d));
    }
    // The query's own term frequencies do not matter for BM25: each distinct term once.
    let mut terms = tokenize(query);
    terms.sort();
    terms.dedup();
    let q = embedder.embed(&terms.join(" "));
    let mut scored: Vec<(usize, f32)> = (0..documents.len())
        .map(|i| (i, scorer.score(&i, &q).unwrap_or(0.0)))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_split_and_kept() {
        let t = tokenize("to_roman(3999) raises OutOfRange; HTTPError x2");
        for want in [
            "to_roman",
            "roman",
            "raises",
            "outofrange",
            "out",
            "range",
            "httperror",
            "http",
            "error",
            "x2",
        ] {
            assert!(t.contains(&want.to_string()), "{want} missing from {t:?}");
        }
        assert!(!t.contains(&"3999".to_string()), "bare numbers are dropped");
        assert!(!t.contains(&"to".to_string()), "stop words are dropped");
    }

    #[test]
    fn bm25_prefers_the_file_that_shares_rare_terms() {
        let docs = [
            "def parse_date(s):\n    return s.split('-')\n",
            "def to_roman(number):\n    if not MIN_VALUE <= number < MAX_VALUE:\n        raise OutOfRange(number)\n",
            "class OutOfRange(ValueError):\n    pass\n",
            "",
        ];
        let r = rank(
            "to_roman(3999) raises OutOfRange although MAX_VALUE is 3999",
            &docs,
        );
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].0, 1, "{r:?}");
        assert_eq!(r[1].0, 2, "{r:?}");
        assert!(r[1].1 > 0.0);
        assert_eq!(r[2].1, 0.0, "no shared term scores 0: {r:?}");
        assert_eq!((r[2].0, r[3].0), (0, 3), "ties keep input order");
    }

    #[test]
    fn repeated_query_terms_do_not_change_the_ranking() {
        let docs = ["alpha beta", "beta gamma gamma", "delta"];
        assert_eq!(
            rank("beta gamma", &docs),
            rank("beta beta gamma gamma gamma", &docs)
        );
        assert!(rank("x", &[]).is_empty());
    }
}
