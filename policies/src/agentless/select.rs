//! Selection: majority vote over normalised patches (candidates whose edited files have the
//! same tokens, whitespace and comments aside, vote together), ties broken by validation (fewer
//! regressions, then a passing reproduction test), then by order.

use std::cmp::Reverse;

/// A surviving candidate as selection sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub index: usize,
    /// The normalised form of its edited files.
    pub key: String,
    /// `None` when validation did not run.
    pub regressions: Option<usize>,
    pub reproduction_passes: Option<bool>,
}

/// The winning candidate's index, and each entry's vote count (in input order).
pub fn select(entries: &[Entry]) -> Option<(usize, Vec<usize>)> {
    let votes: Vec<usize> = entries
        .iter()
        .map(|e| entries.iter().filter(|o| o.key == e.key).count())
        .collect();
    let winner = entries
        .iter()
        .zip(&votes)
        .min_by_key(|(e, v)| {
            (
                Reverse(**v),
                e.regressions.unwrap_or(usize::MAX),
                Reverse(e.reproduction_passes == Some(true)),
                e.index,
            )
        })
        .map(|(e, _)| e.index)?;
    Some((winner, votes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(index: usize, key: &str, reg: Option<usize>, repro: Option<bool>) -> Entry {
        Entry {
            index,
            key: key.into(),
            regressions: reg,
            reproduction_passes: repro,
        }
    }

    #[test]
    fn majority_wins() {
        let (w, v) = select(&[
            e(0, "a", Some(0), Some(true)),
            e(1, "b", Some(0), Some(false)),
            e(2, "b", Some(3), Some(false)),
        ])
        .unwrap();
        assert_eq!(w, 1, "two votes beat one, whatever the validation");
        assert_eq!(v, vec![1, 2, 2]);
    }

    #[test]
    fn ties_go_to_validation_then_order() {
        let (w, _) = select(&[
            e(0, "a", Some(2), Some(true)),
            e(1, "b", Some(0), Some(false)),
        ])
        .unwrap();
        assert_eq!(w, 1, "fewer regressions first");
        let (w, _) = select(&[
            e(0, "a", Some(0), Some(false)),
            e(1, "b", Some(0), Some(true)),
        ])
        .unwrap();
        assert_eq!(w, 1, "then the reproduction test");
        let (w, _) = select(&[e(3, "a", None, None), e(5, "b", None, None)]).unwrap();
        assert_eq!(w, 3, "then order");
        let (w, _) = select(&[e(0, "a", None, None), e(1, "b", Some(4), None)]).unwrap();
        assert_eq!(w, 1, "validated beats not validated");
        assert_eq!(select(&[]), None);
    }
}
