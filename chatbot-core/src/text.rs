//! Text normalisation: what every model and matcher sees instead of the raw message.
//!
//! Unicode NFKC (full-width letters, ligatures and compatibility forms fold to plain ones), lower case,
//! control characters and emoji dropped, apostrophes joined (`what's` → `whats`, the way customers type
//! it half of the time anyway), every other punctuation mark a word break, runs of whitespace one space.
//! Messages longer than [`MAX_CHARS`] are cut there: an intent is stated in the first sentences, and a
//! 100 kB paste must not cost 100 kB of features.

use unicode_normalization::UnicodeNormalization;

/// Characters of a message that are looked at; the rest is ignored.
pub const MAX_CHARS: usize = 2000;

/// The normalised form of `text` (possibly empty: only punctuation, emoji or whitespace).
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_CHARS * 4));
    let mut space = true; // suppress leading spaces
    for c in text.chars().take(MAX_CHARS).nfkc().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            out.push(c);
            space = false;
        } else if c == '\'' || c == '’' || c == '`' {
            // joined: "don't" → "dont"
        } else if (c.is_whitespace() || c.is_ascii_punctuation() || is_separator(c)) && !space {
            out.push(' ');
            space = true;
        }
        // control characters, symbols and emoji: dropped
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Non-ASCII punctuation that separates words (dashes, quotes, ellipses, CJK punctuation).
fn is_separator(c: char) -> bool {
    matches!(c, '\u{2010}'..='\u{206F}' | '\u{3000}'..='\u{303F}' | '\u{00A1}'..='\u{00BF}' | '\u{FF01}'..='\u{FF0F}')
}

/// The words of normalised text.
pub fn words(normalized: &str) -> impl Iterator<Item = &str> {
    normalized.split(' ').filter(|w| !w.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_width_punctuation_and_apostrophes() {
        assert_eq!(normalize("  Where's my ORDER #12345?!  "), "wheres my order 12345");
        assert_eq!(normalize("ｆｕｌｌ－ｗｉｄｔｈ"), "full width");
        assert_eq!(normalize("café — ﬁne…"), "café fine");
        assert_eq!(normalize("a\u{0}b\u{7}c\td"), "abc d");
        assert_eq!(normalize("🙂🙂"), "");
        assert_eq!(normalize("   "), "");
        assert_eq!(normalize("où est ma commande"), "où est ma commande");
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "refund ".repeat(20_000);
        assert!(normalize(&long).len() <= MAX_CHARS);
        assert_eq!(words("a  b c").collect::<Vec<_>>(), ["a", "b", "c"]);
    }
}
