//! `$VAR` and `${VAR}` expansion of the configuration text before it is
//! parsed, as Litestream does, so secrets can stay in the environment.

/// Replaces `$NAME` and `${NAME}` with the value of the environment variable
/// `NAME` (unset: empty) and `$$` with `$`. A `$` that starts neither form
/// is kept as written. `lookup` supplies the environment.
pub(crate) fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (replacement, consumed) = match variable(after) {
            Some(Reference::Dollar) => ("$".to_owned(), 1),
            Some(Reference::Name { name, len }) => (lookup(name).unwrap_or_default(), len),
            None => ("$".to_owned(), 0),
        };
        out.push_str(&replacement);
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

enum Reference<'a> {
    /// `$$`
    Dollar,
    /// `$NAME` or `${NAME}`; `len` counts the bytes after the `$`.
    Name { name: &'a str, len: usize },
}

/// Reads what follows a `$`.
fn variable(after: &str) -> Option<Reference<'_>> {
    if after.starts_with('$') {
        return Some(Reference::Dollar);
    }
    if let Some(braced) = after.strip_prefix('{') {
        let end = braced.find('}')?;
        let name = &braced[..end];
        return is_name(name).then_some(Reference::Name { name, len: end + 2 });
    }
    let len = after
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    let name = &after[..len];
    is_name(name).then_some(Reference::Name { name, len })
}

fn is_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "BUCKET" => Some("my-bucket".into()),
            "A_1" => Some("x".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_both_forms() {
        assert_eq!(expand("bucket: $BUCKET", env), "bucket: my-bucket");
        assert_eq!(expand("bucket: ${BUCKET}/db", env), "bucket: my-bucket/db");
        assert_eq!(expand("$A_1$A_1", env), "xx");
    }

    #[test]
    fn unset_is_empty() {
        assert_eq!(expand("key: ${NOPE}.", env), "key: .");
        assert_eq!(expand("key: $NOPE", env), "key: ");
    }

    #[test]
    fn double_dollar_is_a_dollar() {
        assert_eq!(expand("pa$$word $$BUCKET", env), "pa$word $BUCKET");
    }

    #[test]
    fn lone_dollars_stay() {
        assert_eq!(expand("cost: 5$ ${ $", env), "cost: 5$ ${ $");
        assert_eq!(expand("${-x}", env), "${-x}");
    }
}
