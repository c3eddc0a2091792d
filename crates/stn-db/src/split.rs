//! Splits an SQL script into single statements.
//!
//! Hrana batches take one statement per step, so migration scripts are split
//! here, the same way for local and remote databases. The splitter knows
//! quotes, comments and `CREATE TRIGGER … END` bodies, which is all SQLite
//! DDL needs.

/// Splits `script` on top-level semicolons. Comments are kept inside the
/// statement they precede; empty statements are dropped.
pub fn split_statements(script: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut chars = script.chars().peekable();
    // Depth of BEGIN…END blocks inside CREATE TRIGGER, found by keyword.
    let mut trigger_depth = 0usize;
    let mut word = String::new();
    let mut in_trigger = false;

    let end_word = |word: &mut String, current: &str, depth: &mut usize, in_trigger: &mut bool| {
        let upper = word.to_ascii_uppercase();
        if upper == "TRIGGER" && current.to_ascii_uppercase().contains("CREATE") {
            *in_trigger = true;
        } else if *in_trigger && upper == "BEGIN" {
            *depth += 1;
        } else if *in_trigger && upper == "END" && *depth > 0 {
            *depth -= 1;
        }
        word.clear();
    };

    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' | '[' => {
                end_word(&mut word, &current, &mut trigger_depth, &mut in_trigger);
                let close = if c == '[' { ']' } else { c };
                current.push(c);
                for q in chars.by_ref() {
                    current.push(q);
                    if q == close {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                end_word(&mut word, &current, &mut trigger_depth, &mut in_trigger);
                current.push(c);
                for q in chars.by_ref() {
                    current.push(q);
                    if q == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                end_word(&mut word, &current, &mut trigger_depth, &mut in_trigger);
                current.push(c);
                let mut prev = '\0';
                for q in chars.by_ref() {
                    current.push(q);
                    if prev == '*' && q == '/' {
                        break;
                    }
                    prev = q;
                }
            }
            ';' => {
                end_word(&mut word, &current, &mut trigger_depth, &mut in_trigger);
                current.push(c);
                if trigger_depth == 0 {
                    push_statement(&mut statements, &current);
                    current.clear();
                    in_trigger = false;
                }
            }
            c if c.is_alphanumeric() || c == '_' => {
                word.push(c);
                current.push(c);
            }
            c => {
                end_word(&mut word, &current, &mut trigger_depth, &mut in_trigger);
                current.push(c);
            }
        }
    }
    push_statement(&mut statements, &current);
    statements
}

fn push_statement(statements: &mut Vec<String>, text: &str) {
    let text = text.trim();
    let has_code = text
        .lines()
        .map(str::trim)
        .any(|l| !l.is_empty() && !l.starts_with("--") && l != ";");
    if has_code {
        statements.push(text.trim_end_matches(';').trim_end().to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::split_statements;

    #[test]
    fn splits_on_top_level_semicolons_only() {
        let script = "CREATE TABLE a (x TEXT DEFAULT ';');\n-- a comment; with a semicolon\n\
                      INSERT INTO a VALUES ('it''s; fine'); /* c; */ SELECT 1;\n\n";
        assert_eq!(
            split_statements(script),
            vec![
                "CREATE TABLE a (x TEXT DEFAULT ';')",
                "-- a comment; with a semicolon\nINSERT INTO a VALUES ('it''s; fine')",
                "/* c; */ SELECT 1",
            ]
        );
    }

    #[test]
    fn keeps_trigger_bodies_whole() {
        let script = "CREATE TRIGGER t AFTER UPDATE ON a BEGIN UPDATE a SET x = 1; UPDATE a SET y = 2; END;\nSELECT 2;";
        let parts = split_statements(script);
        assert_eq!(parts.len(), 2, "{parts:?}");
        assert!(parts[0].ends_with("END"));
    }

    #[test]
    fn comment_only_script_is_empty() {
        assert!(split_statements("-- nothing here;\n\n").is_empty());
    }
}
