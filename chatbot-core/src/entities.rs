//! Entities in a customer's message: order numbers, e-mail addresses, amounts of money and price ranges
//! ("under 50 dollars", "between £10 and 20"), quantities, dates (relative to a given day) and products
//! of the store's catalog, matched with typo tolerance ("hart shaped lantern").
//!
//! Patterns are `regex`es over the raw text (symbols such as `#`, `@`, `£` matter); product matching works
//! on normalised words: each message word is matched to the catalog's vocabulary exactly or within a
//! distance of 1 (words of 4–6 letters) or 2 (longer) — insertions, deletions, substitutions and swaps of
//! adjacent letters (optimal string alignment, `rapidfuzz`'s bit-parallel batch comparator) — after
//! dropping a plural `s` on both sides, and products are ranked by the IDF mass of their matched words.

use crate::text::{normalize, words};
use chrono::{Datelike, Duration, NaiveDate, Weekday};
use rapidfuzz::distance::osa;
use regex::Regex;
use std::collections::HashMap;

/// An amount of money.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Money {
    /// The amount.
    pub amount: f64,
    /// ISO code when the message says (`USD`, `GBP`, `EUR`).
    pub currency: Option<&'static str>,
}

/// Which of `.` and `,` customers write as the decimal mark. It decides only the one ambiguous shape — a
/// single separator followed by exactly three digits: "1,299" is 1299 with [`Point`](Self::Point) (English)
/// and 1.299 with [`Comma`](Self::Comma) (German, French …). Everything else reads the same either way:
/// "£1,299.50" and "1.299,50 €" are both 1299.5, "12,50" and "12.50" are 12.5, and groups may be separated
/// by `,` `.` `'` or a (narrow) no-break space (`"1\u{a0}299"`; a plain space separates two numbers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecimalMark {
    /// `1,299.50` (the default: the shop's data is British).
    #[default]
    Point,
    /// `1.299,50`.
    Comma,
}

/// A price constraint: at least `min`, at most `max`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PriceRange {
    /// Lower bound.
    pub min: Option<f64>,
    /// Upper bound.
    pub max: Option<f64>,
}

/// A catalog product the message mentions.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProductMatch {
    /// The product's id.
    pub id: String,
    /// Its name in the catalog.
    pub name: String,
    /// Share of the product name's IDF mass the message matched (0..1).
    pub score: f32,
}

/// Everything found in one message.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Entities {
    /// Order numbers (as written, without a leading `#`).
    pub order_numbers: Vec<String>,
    /// E-mail addresses (lower case).
    pub emails: Vec<String>,
    /// Amounts of money.
    pub money: Vec<Money>,
    /// A price range, when the message states one.
    pub price: Option<PriceRange>,
    /// Quantities ("3 mugs", "two boxes").
    pub quantities: Vec<u32>,
    /// Dates.
    pub dates: Vec<NaiveDate>,
    /// Catalog products, best first.
    pub products: Vec<ProductMatch>,
    /// Store categories named in the message (as the store spells them).
    pub categories: Vec<String>,
}

/// Finds [`Entities`]; build once, use from any thread.
#[derive(Debug)]
pub struct Extractor {
    email: Regex,
    order: Regex,
    money: Regex,
    between: Regex,
    upper: Regex,
    lower: Regex,
    quantity: Regex,
    iso_date: Regex,
    dmy_date: Regex,
    catalog: Option<Catalog>,
    /// Category name → its words (indices into `category_words`).
    categories: Vec<(String, Vec<u32>)>,
    /// The distinct words of the category names, as search keys.
    category_words: Vec<String>,
    /// How amounts are written.
    mark: DecimalMark,
}

#[derive(Debug)]
struct Catalog {
    products: Vec<(String, String, Vec<u32>)>,
    vocab: Vec<String>,
    index: HashMap<String, u32>,
    idf: Vec<f32>,
    postings: Vec<Vec<u32>>,
}

/// A number: digit groups of three after a separator ("1,299", "1.299,50", "1\u{a0}000", tried first so
/// "1,000" is not "1,00"), or up to seven digits with an optional 1–3-digit fraction. A unit may follow
/// at once ("5pounds"); a match that stops inside a longer number is dropped by [`ends_clean`].
const NUM: &str = r"(\d{1,3}(?:[,.'\x{a0}\x{202f}]\d{3})+(?:[.,]\d{1,2})?|\d{1,7}(?:[.,]\d{1,3})?)";
const STOP: &[&str] = &[
    "the",
    "and",
    "for",
    "with",
    "you",
    "your",
    "have",
    "any",
    "can",
    "are",
    "want",
    "need",
    "looking",
    "some",
    "what",
    "how",
    "show",
    "find",
    "please",
    "under",
    "over",
    "between",
    "than",
    "less",
    "more",
    "buy",
    "get",
    "order",
    "price",
    "dollars",
    "pounds",
    "euros",
    "cheap",
    "cheaper",
    "something",
    "like",
    "would",
    "that",
];

impl Default for Extractor {
    fn default() -> Self {
        Self::new()
    }
}

impl Extractor {
    /// An extractor without a catalog (no product matching).
    pub fn new() -> Self {
        let re = |p: &str| Regex::new(p).expect("valid built-in pattern");
        let cur = r"(?:[$£€]|usd|gbp|eur)";
        let unit = r"(?:dollars?|bucks|usd|pounds?|quid|gbp|euros?|eur)";
        Extractor {
            email: re(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b"),
            order: re(r"(?i)(?:#\s?([a-z]{0,4}-?\d{3,12})\b|\b((?:[a-z]{2,4}-)?\d{5,12})\b)"),
            // A symbol after the number ends the match by itself ("12 €" at the end of a message); a word
            // must end at a word boundary.
            money: re(&format!(r"(?i)(?:({cur})\s?{NUM}|\b{NUM}\s?([$£€]|(?:usd|gbp|eur|{unit})\b))")),
            between: re(&format!(r"(?i)\b(?:between|from)\s+{cur}?\s?{NUM}\s*{unit}?\s*(?:and|to|-)\s*{cur}?\s?{NUM}")),
            upper: re(&format!(
                r"(?i)\b(?:under|below|less than|cheaper than|up to|at most|no more than|max(?:imum)?|within)\s+{cur}?\s?{NUM}"
            )),
            lower: re(&format!(r"(?i)\b(?:over|above|more than|at least|min(?:imum)?)\s+{cur}?\s?{NUM}")),
            quantity: re(
                r"(?i)\b(\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|twelve|a dozen)\s+(?:x\s+)?([a-z]{3,})",
            ),
            iso_date: re(r"\b(\d{4})-(\d{2})-(\d{2})\b"),
            dmy_date: re(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b"),
            catalog: None,
            categories: Vec::new(),
            category_words: Vec::new(),
            mark: DecimalMark::Point,
        }
    }

    /// Reads amounts with `mark` as the decimal mark (default [`DecimalMark::Point`]).
    pub fn with_decimal_mark(mut self, mark: DecimalMark) -> Self {
        self.mark = mark;
        self
    }

    /// Adds the store's category names: a message naming one (all its words, each exactly or within
    /// one edit for words of five letters or more) gets it in [`Entities::categories`].
    pub fn with_categories<I, S>(mut self, categories: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let named: Vec<(String, Vec<String>)> = categories
            .into_iter()
            .map(|c| {
                let c: String = c.into();
                let keys: Vec<String> = words(&normalize(&c)).map(storefront::search_key).collect();
                (c, keys)
            })
            // "IT", "A", "12345": not names a customer uses for a category
            .filter(|(_, k): &(String, Vec<String>)| {
                !k.is_empty()
                    && k.iter()
                        .all(|w| w.len() >= 3 && !STOP.contains(&w.as_str()) && !w.chars().all(|c| c.is_ascii_digit()))
            })
            .collect();
        let mut index: HashMap<String, u32> = HashMap::new();
        let (mut categories, mut category_words) = (Vec::new(), Vec::new());
        for (name, keys) in named {
            let ids = keys
                .into_iter()
                .map(|k| {
                    *index.entry(k.clone()).or_insert_with(|| {
                        category_words.push(k);
                        category_words.len() as u32 - 1
                    })
                })
                .collect();
            categories.push((name, ids));
        }
        (self.categories, self.category_words) = (categories, category_words);
        self
    }

    /// Adds a catalog of `(id, name)` products to match against.
    pub fn with_catalog<I, S>(mut self, products: I) -> Self
    where
        I: IntoIterator<Item = (S, S)>,
        S: Into<String>,
    {
        let mut index: HashMap<String, u32> = HashMap::new();
        let mut vocab = Vec::new();
        let mut list = Vec::new();
        for (id, name) in products {
            let name: String = name.into();
            let mut ws: Vec<u32> = words(&normalize(&name))
                .filter(|w| w.len() >= 2)
                .map(|w| {
                    let next = index.len() as u32;
                    let key = storefront::search_key(w);
                    *index.entry(key.clone()).or_insert_with(|| {
                        vocab.push(key);
                        next
                    })
                })
                .collect();
            ws.sort_unstable();
            ws.dedup();
            list.push((id.into(), name, ws));
        }
        let mut postings = vec![Vec::new(); vocab.len()];
        for (p, (_, _, ws)) in list.iter().enumerate() {
            ws.iter().for_each(|&w| postings[w as usize].push(p as u32));
        }
        let n = list.len().max(1) as f32;
        let idf = postings.iter().map(|p| (n / p.len().max(1) as f32).ln() + 1.0).collect();
        self.catalog = Some(Catalog { products: list, vocab, index, idf, postings });
        self
    }

    /// The words of normalised text with each one that is close to a catalog word (see the module
    /// docs) replaced by that word: a typo-corrected product query ("hangng hart" → "hanging heart").
    /// Without a catalog, the words unchanged.
    pub fn correct(&self, norm: &str) -> String {
        words(norm)
            .map(|w| match &self.catalog {
                Some(c) if w.len() >= 3 => {
                    c.word(&storefront::search_key(w)).map_or(w, |i| c.vocab[i as usize].as_str())
                }
                _ => w,
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The entities of `text`; relative dates ("tomorrow", "friday") are resolved from `today`.
    pub fn extract(&self, text: &str, today: NaiveDate) -> Entities {
        self.extract_normalized(text, &normalize(text), today)
    }

    /// [`extract`](Self::extract) when the caller already has `norm = normalize(text)`.
    pub fn extract_normalized(&self, text: &str, norm: &str, today: NaiveDate) -> Entities {
        let text: String = text.chars().take(crate::text::MAX_CHARS).collect();
        let mut e = Entities::default();
        let mut taken: Vec<(usize, usize)> = Vec::new();
        for m in self.email.find_iter(&text) {
            e.emails.push(m.as_str().to_lowercase());
            taken.push((m.start(), m.end()));
        }
        for c in self.iso_date.captures_iter(&text) {
            let d = NaiveDate::from_ymd_opt(num(&c[1]) as i32, num(&c[2]) as u32, num(&c[3]) as u32);
            if let Some(d) = d {
                e.dates.push(d);
                let m = c.get(0).expect("match");
                taken.push((m.start(), m.end()));
            }
        }
        for c in self.dmy_date.captures_iter(&text) {
            // day/month/year, the British order of the shop's data
            if let Some(d) = NaiveDate::from_ymd_opt(num(&c[3]) as i32, num(&c[2]) as u32, num(&c[1]) as u32) {
                e.dates.push(d);
                let m = c.get(0).expect("match");
                taken.push((m.start(), m.end()));
            }
        }
        let mut range = PriceRange::default();
        // "within 30 days", "between 3 and 5 weeks": numbers with another unit are not prices.
        let not_money = |end: usize| {
            let next = text[end..].split_whitespace().next().unwrap_or("").to_lowercase();
            let next = next.trim_matches(|c: char| !c.is_alphanumeric());
            is_money_or_time_word(next) && currency(next).is_none()
        };
        let clean = |c: &regex::Captures<'_>| {
            let end = c.get(0).expect("match").end();
            ends_clean(&text, end) && !not_money(end)
        };
        if let Some(c) = self.between.captures(&text).filter(clean) {
            let (a, b) = (amount(&c[1], self.mark), amount(&c[2], self.mark));
            (range.min, range.max) = (Some(a.min(b)), Some(a.max(b)));
            let m = c.get(0).expect("match");
            taken.push((m.start(), m.end()));
        }
        if let Some(c) = self.upper.captures(&text).filter(clean) {
            range.max = range.max.or(Some(amount(&c[1], self.mark)));
            let m = c.get(0).expect("match");
            taken.push((m.start(), m.end()));
        }
        if let Some(c) = self.lower.captures(&text).filter(clean) {
            range.min = range.min.or(Some(amount(&c[1], self.mark)));
            let m = c.get(0).expect("match");
            taken.push((m.start(), m.end()));
        }
        if range != PriceRange::default() {
            e.price = Some(range);
        }
        let mut at = 0;
        while let Some(c) = self.money.captures_at(&text, at) {
            let m = c.get(0).expect("match");
            at = m.end();
            let (sym, value) = match (c.get(1), c.get(2)) {
                (Some(s), Some(v)) => (s, v),
                _ => match (c.get(4), c.get(3)) {
                    (Some(s), Some(v)) => (s, v),
                    _ => continue,
                },
            };
            // "order 123456 £5": a symbol that a number follows is the next amount's, not this one's.
            let symbol_after = sym.start() > value.start();
            if symbol_after && text[sym.end()..].trim_start().starts_with(|c: char| c.is_ascii_digit()) {
                at = sym.start();
                continue;
            }
            if !symbol_after && !ends_clean(&text, value.end()) {
                continue;
            }
            e.money.push(Money { amount: amount(value.as_str(), self.mark), currency: currency(sym.as_str()) });
            taken.push((m.start(), m.end()));
        }
        let overlaps = |s: usize, t: usize, taken: &[(usize, usize)]| taken.iter().any(|&(a, b)| s < b && a < t);
        for c in self.order.captures_iter(&text) {
            let m = c.get(0).expect("match");
            if overlaps(m.start(), m.end(), &taken) {
                continue;
            }
            let id = c.get(1).or(c.get(2)).expect("one group").as_str().to_uppercase();
            if !e.order_numbers.contains(&id) {
                e.order_numbers.push(id);
            }
            taken.push((m.start(), m.end()));
        }
        for c in self.quantity.captures_iter(&text) {
            let m = c.get(0).expect("match");
            let unit = c[2].to_lowercase();
            if overlaps(m.start(), m.end(), &taken) || is_money_or_time_word(&unit) {
                continue;
            }
            if let Some(q) = quantity(&c[1].to_lowercase()) {
                e.quantities.push(q);
            }
        }
        e.dates.extend(relative_dates(norm, today));
        if let Some(cat) = &self.catalog {
            e.products = cat.find(norm, 3);
        }
        if !self.categories.is_empty() {
            // Which category words the message has: exactly, or (five letters or more) within one edit.
            let mut named = vec![false; self.category_words.len()];
            for k in words(norm).map(storefront::search_key) {
                let pattern = osa::BatchComparator::new(k.chars());
                let args = osa::Args::default().score_cutoff(1);
                let k_len = k.chars().count();
                for (i, w) in self.category_words.iter().enumerate() {
                    named[i] |= *w == k
                        || (w.len() >= 5
                            && w.chars().count().abs_diff(k_len) <= 1
                            && pattern.distance_with_args(w.chars(), &args).is_some());
                }
            }
            for (name, ws) in &self.categories {
                if ws.iter().all(|&w| named[w as usize]) {
                    e.categories.push(name.clone());
                }
            }
        }
        e
    }
}

/// Whether a number match ending at `end` is not cut out of a longer number ("1,2999", "12.345.6").
fn ends_clean(text: &str, end: usize) -> bool {
    let mut rest = text[end..].chars();
    match rest.next() {
        Some(c) if c.is_ascii_digit() => false,
        Some(',' | '.' | '\'') => !rest.next().is_some_and(|c| c.is_ascii_digit()),
        _ => true,
    }
}

fn num(s: &str) -> u64 {
    s.parse().unwrap_or(0)
}

/// The value of a [`NUM`] match: the last separator is the decimal mark when 1–2 digits follow it, or when
/// three follow a single separator that is `mark`'s; every other separator groups thousands.
fn amount(s: &str, mark: DecimalMark) -> f64 {
    let is_sep = |c: char| matches!(c, ',' | '.' | '\'' | '\u{a0}' | '\u{202f}');
    let seps: Vec<(usize, char)> = s.char_indices().filter(|&(_, c)| is_sep(c)).collect();
    let decimal_at = seps.last().and_then(|&(i, c)| {
        let after = s[i + c.len_utf8()..].chars().count();
        let mark_char = match mark {
            DecimalMark::Point => '.',
            DecimalMark::Comma => ',',
        };
        let decimal = matches!(c, '.' | ',') && (after <= 2 || (after == 3 && seps.len() == 1 && c == mark_char));
        decimal.then_some(i)
    });
    let mut digits = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else if Some(i) == decimal_at {
            digits.push('.');
        }
    }
    digits.parse().unwrap_or(0.0)
}

fn currency(s: &str) -> Option<&'static str> {
    match s.to_lowercase().as_str() {
        "$" | "usd" | "dollar" | "dollars" | "bucks" => Some("USD"),
        "£" | "gbp" | "pound" | "pounds" | "quid" => Some("GBP"),
        "€" | "eur" | "euro" | "euros" => Some("EUR"),
        _ => None,
    }
}

fn is_money_or_time_word(w: &str) -> bool {
    currency(w).is_some()
        || ["days", "weeks", "months", "years", "hours", "minutes", "times", "percent", "day", "week", "month"]
            .contains(&w)
}

fn quantity(w: &str) -> Option<u32> {
    let words = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"];
    match w {
        "twelve" | "a dozen" => Some(12),
        _ => words.iter().position(|x| *x == w).map(|i| i as u32 + 1).or_else(|| w.parse().ok().filter(|&q| q > 0)),
    }
}

/// "today", "tomorrow", "yesterday", "in 3 days", weekday names (the next such day), "21 november".
fn relative_dates(norm: &str, today: NaiveDate) -> Vec<NaiveDate> {
    let ws: Vec<&str> = words(norm).collect();
    let mut out = Vec::new();
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    for (i, w) in ws.iter().enumerate() {
        let weekday = match *w {
            "today" => Some(today),
            "tomorrow" => Some(today + Duration::days(1)),
            "yesterday" => Some(today - Duration::days(1)),
            "days" if i >= 2 && ws[i - 2] == "in" => ws[i - 1]
                .parse::<u64>()
                .ok()
                .filter(|&n| n <= 3650)
                .and_then(|n| today.checked_add_days(chrono::Days::new(n))),
            _ => w.parse::<Weekday>().ok().filter(|_| w.len() > 3).map(|wd| {
                let ahead = (7 + wd.num_days_from_monday() as i64 - today.weekday().num_days_from_monday() as i64) % 7;
                today + Duration::days(if ahead == 0 { 7 } else { ahead })
            }),
        };
        if let Some(d) = weekday {
            out.push(d);
            continue;
        }
        if let Some(m) = MONTHS.iter().position(|m| m == w) {
            let day = [i.checked_sub(1), Some(i + 1)]
                .into_iter()
                .flatten()
                .filter_map(|j| ws.get(j))
                .find_map(|d| d.trim_end_matches(|c: char| c.is_alphabetic()).parse::<u32>().ok());
            if let Some(d) = day.and_then(|d| NaiveDate::from_ymd_opt(today.year(), m as u32 + 1, d)) {
                out.push(d);
            }
        }
    }
    out
}

impl Catalog {
    /// The catalog word closest to `w`: itself, or within the edit budget of its length.
    fn word(&self, w: &str) -> Option<u32> {
        if let Some(&i) = self.index.get(w) {
            return Some(i);
        }
        let budget = match w.chars().count() {
            0..=3 => return None,
            4..=6 => 1,
            _ => 2,
        };
        // One pattern, many candidates: rapidfuzz's batch comparator precomputes the bit-parallel
        // pattern of `w` once and stops a candidate as soon as it exceeds the budget.
        let pattern = osa::BatchComparator::new(w.chars());
        let args = osa::Args::default().score_cutoff(budget);
        self.vocab
            .iter()
            .enumerate()
            .filter(|(_, v)| v.len().abs_diff(w.len()) <= budget)
            .filter_map(|(i, v)| pattern.distance_with_args(v.chars(), &args).map(|d| (i, d)))
            .min_by_key(|&(i, d)| (d, std::cmp::Reverse((self.idf[i] * 1000.0) as u32)))
            .map(|(i, _)| i as u32)
    }

    fn find(&self, norm: &str, k: usize) -> Vec<ProductMatch> {
        let mut matched: Vec<u32> = words(norm)
            .filter(|w| w.len() >= 3 && !STOP.contains(w))
            .filter_map(|w| self.word(&storefront::search_key(w)))
            .collect();
        matched.sort_unstable();
        matched.dedup();
        let mut score: HashMap<u32, f32> = HashMap::new();
        for &w in &matched {
            for &p in &self.postings[w as usize] {
                *score.entry(p).or_default() += self.idf[w as usize];
            }
        }
        let asked: f32 = matched.iter().map(|&w| self.idf[w as usize]).sum();
        let mut ranked: Vec<(u32, f32)> = score
            .into_iter()
            .map(|(p, s)| {
                let own: f32 = self.products[p as usize].2.iter().map(|&w| self.idf[w as usize]).sum();
                // how much of the request the product covers, and how much of the product the request names
                (p, 0.7 * s / asked.max(1e-6) + 0.3 * s / own.max(1e-6))
            })
            .filter(|&(_, s)| s >= 0.5)
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
            .into_iter()
            .take(k)
            .map(|(p, s)| {
                let (id, name, _) = &self.products[p as usize];
                ProductMatch { id: id.clone(), name: name.clone(), score: s }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 21).unwrap() // a Saturday
    }

    #[test]
    fn orders_emails_money_and_ranges() {
        let x = Extractor::new();
        let e = x.extract("Where is order #48213? Mail me at Ann.Lee@example.co.uk", day());
        assert_eq!(e.order_numbers, ["48213"]);
        assert_eq!(e.emails, ["ann.lee@example.co.uk"]);
        let e = x.extract("my order number is ORD-1234567", day());
        assert_eq!(e.order_numbers, ["ORD-1234567"]);
        let e = x.extract("show me mugs under 50 dollars", day());
        assert_eq!(e.price, Some(PriceRange { min: None, max: Some(50.0) }));
        assert_eq!(e.money, [Money { amount: 50.0, currency: Some("USD") }]);
        let e = x.extract("something between £10 and 20", day());
        assert_eq!(e.price, Some(PriceRange { min: Some(10.0), max: Some(20.0) }));
        assert!(e.order_numbers.is_empty(), "{e:?}");
        let e = x.extract("over €7.50 please", day());
        assert_eq!(e.price, Some(PriceRange { min: Some(7.5), max: None }));
        assert_eq!(e.money[0].currency, Some("EUR"));
    }

    #[test]
    fn thousands_separators_and_decimal_commas_per_locale() {
        let money = |x: &Extractor, t: &str| x.extract(t, day()).money.iter().map(|m| m.amount).collect::<Vec<_>>();
        let max = |x: &Extractor, t: &str| x.extract(t, day()).price.and_then(|p| p.max);
        let en = Extractor::new();
        let de = Extractor::new().with_decimal_mark(DecimalMark::Comma);
        // The review's two cases: read as 1.29 and 1.0 before.
        assert_eq!(max(&en, "lamps under £1,299"), Some(1299.0));
        assert_eq!(money(&en, "lamps under £1,299"), [1299.0]);
        assert_eq!(money(&en, "I paid 1,000 dollars"), [1000.0]);
        assert_eq!(max(&en, "under 1,000 dollars"), Some(1000.0));
        let e = en.extract("between £1,000 and £2,500.50", day());
        assert_eq!(e.price, Some(PriceRange { min: Some(1000.0), max: Some(2500.5) }));
        assert_eq!(money(&en, "£1,234,567.89"), [1_234_567.89]);
        assert_eq!(money(&en, "€12,50"), [12.5], "two digits after a comma: a decimal comma in any locale");
        assert_eq!(money(&en, "1\u{a0}299 €"), [1299.0], "no-break space groups");
        assert_eq!(money(&en, "CHF-style 1'299 euros"), [1299.0]);
        // The locale decides one separator followed by three digits.
        assert_eq!(money(&de, "1,299 €"), [1.299]);
        assert_eq!(money(&de, "1.299 €"), [1299.0]);
        assert_eq!(money(&en, "1.299 €"), [1.299]);
        assert_eq!(money(&de, "1.299,50 €"), [1299.5]);
        assert_eq!(money(&en, "1.299,50 €"), [1299.5], "both separators: unambiguous in any locale");
        assert_eq!(max(&de, "unter 1.000 euros? under 1.000 euros"), Some(1000.0));
        assert_eq!(money(&de, "12,5 euros"), [12.5]);
        // A unit straight after the number, a symbol that belongs to the next amount, a cut-off number.
        assert_eq!(money(&en, "5pounds or 20quid"), [5.0, 20.0]);
        assert_eq!(max(&en, "under 50usd"), Some(50.0));
        let e = en.extract("order 123456 £5 please", day());
        assert_eq!(e.money, [Money { amount: 5.0, currency: Some("GBP") }]);
        assert_eq!(e.order_numbers, ["123456"]);
        assert_eq!(money(&en, "£1,2999"), Vec::<f64>::new(), "not 1.29 or 1299");
        // Still not money: other units, and numbers with no currency.
        assert_eq!(en.extract("within 1,000 days", day()).price, None);
        assert!(money(&en, "order 1,234").is_empty());
    }

    #[test]
    fn quantities_and_dates() {
        let x = Extractor::new();
        let e = x.extract("I need 3 mugs and two teapots by tomorrow", day());
        assert_eq!(e.quantities, [3, 2]);
        assert_eq!(e.dates, [NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()]);
        let e = x.extract("delivered on 2026-12-01 or 05/12/2026, maybe friday or 24 december", day());
        let want = [(2026, 12, 1), (2026, 12, 5), (2026, 11, 27), (2026, 12, 24)];
        assert_eq!(e.dates, want.map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap()));
        let e = x.extract("it took 3 days and cost 20 dollars", day());
        assert!(e.quantities.is_empty(), "{e:?}");
        let e = x.extract("can i return it within 30 days? between 3 and 5 weeks?", day());
        assert_eq!(e.price, None, "{e:?}");
        let e = x.extract("arrive in 99999999999 days", day());
        assert!(e.dates.is_empty());
        // no amount read out of the middle of a longer number or word
        let e = x.extract("12345678 dollars or abc12 usd", day());
        assert!(e.money.is_empty(), "{e:?}");
        let e = x.extract("1234567 dollars", day());
        assert_eq!(e.money, [Money { amount: 1234567.0, currency: Some("USD") }], "{e:?}");
    }

    #[test]
    fn products_with_typos() {
        let x = Extractor::new().with_catalog([
            ("85123A", "WHITE HANGING HEART T-LIGHT HOLDER"),
            ("71053", "WHITE METAL LANTERN"),
            ("22423", "REGENCY CAKESTAND 3 TIER"),
            ("21730", "GLASS STAR FROSTED T-LIGHT HOLDER"),
        ]);
        let e = x.extract("do you have the white hangng hart t-light holder?", day());
        assert_eq!(e.products[0].id, "85123A", "{:?}", e.products);
        let e = x.extract("a regency cakestnd", day());
        assert_eq!(e.products[0].id, "22423");
        let e = x.extract("hello there", day());
        assert!(e.products.is_empty());
        let x = Extractor::new().with_categories(["MUG", "LANTERN", "CAKE STAND"]);
        let e = x.extract("any lanterns or mugs? maybe a cake stnd", day());
        assert_eq!(e.categories, ["MUG", "LANTERN", "CAKE STAND"]);
        assert!(x.extract("a mugshot", day()).categories.is_empty());
        let x = Extractor::new().with_categories(["IT", "CAN", "12345", "MUG"]);
        assert_eq!(x.extract("can you track it? a mug", day()).categories, ["MUG"]);
    }

    #[test]
    fn hostile_input_never_panics() {
        let x = Extractor::new().with_catalog([("1", "MUG")]);
        for t in [
            "",
            "   ",
            "🙂🙂",
            "\u{0}\u{1b}[0m",
            "где мой заказ 12345",
            &"#1234567 ".repeat(20_000),
            "99999999999999999999 dollars",
        ] {
            let _ = x.extract(t, day());
        }
    }
}
