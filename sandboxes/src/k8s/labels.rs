//! Label values from run and instance ids. A label value is at most 63 characters of
//! `[A-Za-z0-9._-]`, beginning and ending with an alphanumeric; object names are stricter
//! (lower-case DNS labels).

/// Label holding the run id on every pod (and NetworkPolicy) protege creates.
pub const RUN_LABEL: &str = "dev.protege/run";
/// Label holding the instance id a pod was started for.
pub const INSTANCE_LABEL: &str = "dev.protege/instance";

/// A valid label value for `s`: other characters become `_`, long values keep their head and a
/// hash of the whole (so two long run ids never share a value).
pub fn label_value(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let v = if mapped.len() > 63 {
        format!("{}-{:016x}", &mapped[..46], fnv(s))
    } else {
        mapped
    };
    let v = v.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if v.is_empty() {
        "x".into()
    } else {
        v.to_string()
    }
}

/// A DNS-label object-name prefix for `s` (lower case, `-` for anything else, at most 40).
pub fn name_part(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let v = mapped.trim_matches('-');
    if v.is_empty() {
        "x".into()
    } else {
        v.to_string()
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(v: &str) -> bool {
        v.len() <= 63
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.ends_with(|c: char| c.is_ascii_alphanumeric())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    }

    #[test]
    fn values_are_valid_and_distinct() {
        assert_eq!(label_value("django__django-11099"), "django__django-11099");
        assert_eq!(label_value("run/1 x"), "run_1_x");
        let a = label_value(&"a".repeat(80));
        let b = label_value(&format!("{}b", "a".repeat(79)));
        assert!(valid(&a) && valid(&b) && a != b, "{a} {b}");
        assert!(valid(&label_value("-_-")));
        assert!(valid(&label_value("__x__")));
    }

    #[test]
    fn name_parts_are_dns_labels() {
        assert_eq!(name_part("Mini_Run.1"), "mini-run-1");
        assert_eq!(name_part("___"), "x");
        assert!(name_part(&"z".repeat(90)).len() <= 40);
    }
}
