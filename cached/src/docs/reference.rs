//! The configuration reference as Markdown, rendered from [`crate::config::keys::KEYS`]. The
//! README embeds it between markers and a test fails when the two differ, so the
//! documentation cannot drift from the code.

use crate::config::keys::KEYS;

/// Line before the generated table in README.md.
pub const BEGIN_MARKER: &str =
    "<!-- BEGIN config-reference (generated from cached/src/config/keys.rs) -->";
/// Line after it.
pub const END_MARKER: &str = "<!-- END config-reference -->";

/// The Markdown table: key, default, expected value, meaning.
pub fn markdown_table() -> String {
    let mut out = String::from("| key | default | value | meaning |\n| --- | --- | --- | --- |\n");
    for k in KEYS {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            k.name,
            escape(k.default_doc()),
            escape(&k.kind.expected()),
            escape(k.doc)
        ));
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_reference_matches_the_key_table() {
        let readme_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
        let readme = std::fs::read_to_string(readme_path).expect("README.md");
        let start = readme
            .find(BEGIN_MARKER)
            .expect("begin marker in README.md")
            + BEGIN_MARKER.len();
        let end = readme.find(END_MARKER).expect("end marker in README.md");
        let embedded = readme[start..end].trim();
        let expected = markdown_table();
        assert_eq!(
            embedded,
            expected.trim(),
            "README.md's configuration reference is out of date; replace it with:\n{expected}"
        );
    }
}
