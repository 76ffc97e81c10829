//! Sparse features of normalised text: words, word bigrams, WordPiece sub-words (a vocabulary trained
//! with the `tokenizers` crate on the training utterances) and character n-grams of each word padded with
//! `<` `>` (fastText's scheme: robust to typos — "refnud" still shares "ref", "und>" with "refund"),
//! weighted TF-IDF (sub-linear tf, smoothed idf) and L2-normalised per group (words, n-grams, pieces).
//!
//! Features are identified by a 64-bit FNV-1a hash of a kind tag and their text, and only those seen in
//! training get an id: an unknown feature has no trained weight, so it is dropped rather than hashed onto
//! some other feature's row.

use crate::error::{ChatError, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tokenizers::models::wordpiece::{WordPiece, WordPieceTrainer};
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::{AddedToken, Model, Tokenizer};

/// Which features are extracted. Defaults: char n-grams 2..=5, word bigrams, a 4,000-piece WordPiece
/// vocabulary, features kept when seen in at least 1 training utterance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureParams {
    /// Shortest character n-gram (0: no character n-grams).
    pub char_min: usize,
    /// Longest character n-gram.
    pub char_max: usize,
    /// Adjacent word pairs as features.
    pub word_bigrams: bool,
    /// Size of the WordPiece vocabulary trained on the utterances (0: no sub-word features).
    pub wordpiece_vocab: usize,
    /// A feature needs this many training utterances containing it to be kept.
    pub min_count: usize,
}

impl Default for FeatureParams {
    fn default() -> Self {
        FeatureParams { char_min: 2, char_max: 5, word_bigrams: true, wordpiece_vocab: 4000, min_count: 1 }
    }
}

impl FeatureParams {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.char_min > self.char_max || self.char_max > 12 {
            return Err(ChatError::param(
                "char_ngrams",
                format!("need char_min ≤ char_max ≤ 12, got {}..={}", self.char_min, self.char_max),
            ));
        }
        if self.min_count == 0 {
            return Err(ChatError::param("min_count", "must be at least 1"));
        }
        Ok(())
    }
}

/// Turns normalised text into an L2-normalised TF-IDF vector over the training vocabulary.
#[derive(Debug, Clone)]
pub struct Featurizer {
    params: FeatureParams,
    tokenizer: Option<Tokenizer>,
    ids: HashMap<u64, u32>,
    idf: Vec<f32>,
    /// Group of each feature id.
    groups: Vec<u8>,
    /// Feature ids of each training word (most words of a message hit it).
    cache: HashMap<String, Box<[u32]>>,
}

/// The stored form of a [`Featurizer`] (model files).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FeaturizerParts {
    pub params: FeatureParams,
    pub tokenizer: Option<String>,
    /// Feature hashes in id order.
    pub hashes: Vec<u64>,
    pub idf: Vec<f32>,
    /// The distinct training words (their feature ids are recomputed on load).
    pub words: Vec<String>,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a of a kind tag and bytes (a dozen lines; a hashing crate would add nothing but a dependency).
/// The top two bits carry the feature's group (see [`group`]).
fn hash(tag: u8, parts: &[&[u8]]) -> u64 {
    let mut h = (FNV_OFFSET ^ tag as u64).wrapping_mul(FNV_PRIME);
    for p in parts {
        for &b in *p {
            h = (h ^ b as u64).wrapping_mul(FNV_PRIME);
        }
        h = (h ^ 0xff).wrapping_mul(FNV_PRIME); // part separator
    }
    let g: u64 = match tag {
        b'w' | b'b' => 0,
        b'c' => 1,
        _ => 2,
    };
    (h >> 2) | (g << 62)
}

/// A feature's group: 0 words and bigrams, 1 character n-grams, 2 WordPiece pieces. Each group is
/// L2-normalised on its own (as scikit-learn's `FeatureUnion` of TF-IDF vectorisers does), so the many
/// character n-grams do not drown the few words.
fn group(h: u64) -> usize {
    (h >> 62) as usize
}

impl Featurizer {
    /// Learns the vocabulary (and the WordPiece model) from normalised training texts.
    pub fn fit(texts: &[String], params: FeatureParams) -> Result<Self> {
        params.validate()?;
        if texts.is_empty() {
            return Err(ChatError::Data("no training texts".into()));
        }
        let tokenizer = if params.wordpiece_vocab > 0 {
            let mut tk = Tokenizer::new(WordPiece::default());
            tk.with_pre_tokenizer(Some(Whitespace {}));
            // tokenizers 0.23 numbers the continuing-subword tokens ("##e") in hash-map order and breaks
            // merge ties by those numbers, so the learned vocabulary changed from run to run
            // (huggingface/tokenizers#1794). Registering every "##c" up front, sorted, fixes their ids.
            let mut chars: Vec<char> = texts.iter().flat_map(|t| t.chars()).filter(|c| !c.is_whitespace()).collect();
            chars.sort_unstable();
            chars.dedup();
            let special = std::iter::once(AddedToken::from("[UNK]", true))
                .chain(chars.iter().map(|c| AddedToken::from(format!("##{c}"), true)))
                .collect();
            let mut trainer: tokenizers::models::TrainerWrapper = WordPieceTrainer::builder()
                .vocab_size(params.wordpiece_vocab)
                .min_frequency(2)
                .show_progress(false)
                .special_tokens(special)
                .build()
                .into();
            tk.train(&mut trainer, texts.iter())?;
            Some(tk)
        } else {
            None
        };
        let mut f = Featurizer {
            params,
            tokenizer,
            ids: HashMap::new(),
            idf: Vec::new(),
            groups: Vec::new(),
            cache: HashMap::new(),
        };
        let mut df: HashMap<u64, u32> = HashMap::new();
        let mut seen = Vec::new();
        for t in texts {
            seen.clear();
            f.hashes(t, |h| seen.push(h))?;
            seen.sort_unstable();
            seen.dedup();
            seen.iter().for_each(|&h| *df.entry(h).or_insert(0) += 1);
        }
        let mut kept: Vec<(u64, u32)> = df.into_iter().filter(|&(_, c)| c as usize >= f.params.min_count).collect();
        kept.sort_unstable();
        let n = texts.len() as f32;
        f.idf = kept.iter().map(|&(_, c)| ((1.0 + n) / (1.0 + c as f32)).ln() + 1.0).collect();
        f.ids = kept.iter().enumerate().map(|(i, &(h, _))| (h, i as u32)).collect();
        f.groups = kept.iter().map(|&(h, _)| group(h) as u8).collect();
        f.build_cache(texts)?;
        Ok(f)
    }

    /// Number of features (rows of a model's embedding table).
    pub fn len(&self) -> usize {
        self.idf.len()
    }

    /// Whether no feature was kept.
    pub fn is_empty(&self) -> bool {
        self.idf.is_empty()
    }

    /// The TF-IDF vector of normalised `text` as `(feature id, weight)`, each group L2-normalised, into `out`
    /// (cleared first). Empty when no known feature occurs.
    pub fn transform(&self, text: &str, out: &mut Vec<(u32, f32)>) -> Result<()> {
        out.clear();
        let mut scratch = (String::new(), Vec::new());
        let mut prev: Option<&str> = None;
        for w in crate::text::words(text) {
            self.word_ids(w, &mut scratch, out)?;
            if let (true, Some(pw)) = (self.params.word_bigrams, prev) {
                if let Some(&id) = self.ids.get(&hash(b'b', &[pw.as_bytes(), w.as_bytes()])) {
                    out.push((id, 1.0));
                }
            }
            prev = Some(w);
        }
        out.sort_unstable_by_key(|p| p.0);
        let mut w = 0;
        for r in 0..out.len() {
            if w > 0 && out[w - 1].0 == out[r].0 {
                out[w - 1].1 += 1.0;
            } else {
                out[w] = out[r];
                w += 1;
            }
        }
        out.truncate(w);
        let mut norm = [0.0f32; 3];
        for (id, v) in out.iter_mut() {
            *v = (1.0 + v.ln()) * self.idf[*id as usize];
            norm[self.groups[*id as usize] as usize] += *v * *v;
        }
        let inv = norm.map(|n| 1.0 / n.sqrt().max(f32::MIN_POSITIVE));
        out.iter_mut().for_each(|(id, v)| *v *= inv[self.groups[*id as usize] as usize]);
        Ok(())
    }

    /// Calls `emit` with the hash of every feature occurrence in normalised `text`.
    fn hashes(&self, text: &str, mut emit: impl FnMut(u64)) -> Result<()> {
        let mut scratch = (String::new(), Vec::new());
        let mut prev: Option<&str> = None;
        for w in crate::text::words(text) {
            self.word_hashes(w, &mut scratch, &mut emit)?;
            if let (true, Some(pw)) = (self.params.word_bigrams, prev) {
                emit(hash(b'b', &[pw.as_bytes(), w.as_bytes()]));
            }
            prev = Some(w);
        }
        Ok(())
    }

    /// The features of one word: itself, its padded character n-grams, its WordPiece pieces.
    fn word_hashes(&self, w: &str, scratch: &mut (String, Vec<usize>), emit: &mut impl FnMut(u64)) -> Result<()> {
        let p = &self.params;
        emit(hash(b'w', &[w.as_bytes()]));
        if p.char_min > 0 {
            let (padded, bounds) = scratch;
            padded.clear();
            padded.push('<');
            padded.push_str(w);
            padded.push('>');
            bounds.clear();
            bounds.extend(padded.char_indices().map(|(i, _)| i));
            bounds.push(padded.len());
            let chars = bounds.len() - 1;
            for n in p.char_min..=p.char_max.min(chars) {
                for s in 0..=chars - n {
                    emit(hash(b'c', &[&padded.as_bytes()[bounds[s]..bounds[s + n]]]));
                }
            }
        }
        if let Some(tk) = &self.tokenizer {
            // Text is normalised to alphanumeric words, so the WordPiece model alone (without the
            // pipeline's pre-tokenizer) sees what the trained tokenizer would.
            for t in tk.get_model().tokenize(w)? {
                emit(hash(b'p', &[t.value.as_bytes()]));
            }
        }
        Ok(())
    }

    /// Feature ids of one word (known features only), from the cache of training words or computed.
    fn word_ids(&self, w: &str, scratch: &mut (String, Vec<usize>), out: &mut Vec<(u32, f32)>) -> Result<()> {
        if let Some(ids) = self.cache.get(w) {
            out.extend(ids.iter().map(|&id| (id, 1.0)));
            return Ok(());
        }
        self.word_hashes(w, scratch, &mut |h| {
            if let Some(&id) = self.ids.get(&h) {
                out.push((id, 1.0));
            }
        })
    }

    /// Caches the feature ids of every word of the (normalised) training texts.
    fn build_cache(&mut self, texts: &[String]) -> Result<()> {
        let mut scratch = (String::new(), Vec::new());
        let mut cache = HashMap::new();
        for w in texts.iter().flat_map(|t| crate::text::words(t)) {
            if !cache.contains_key(w) {
                let mut v = Vec::new();
                self.word_ids(w, &mut scratch, &mut v)?;
                cache.insert(w.to_string(), v.into_iter().map(|p| p.0).collect());
            }
        }
        self.cache = cache;
        Ok(())
    }

    pub(crate) fn to_parts(&self) -> Result<FeaturizerParts> {
        let mut hashes = vec![0u64; self.ids.len()];
        self.ids.iter().for_each(|(&h, &i)| hashes[i as usize] = h);
        let tokenizer = self.tokenizer.as_ref().map(|t| t.to_string(false)).transpose()?;
        let mut words: Vec<String> = self.cache.keys().cloned().collect();
        words.sort();
        Ok(FeaturizerParts { params: self.params.clone(), tokenizer, hashes, idf: self.idf.clone(), words })
    }

    pub(crate) fn from_parts(p: FeaturizerParts) -> Result<Self> {
        p.params.validate()?;
        if p.hashes.len() != p.idf.len() {
            return Err(ChatError::Data("feature table and idf differ in length".into()));
        }
        let tokenizer = p.tokenizer.as_deref().map(parse_tokenizer).transpose()?;
        let ids = p.hashes.iter().enumerate().map(|(i, &h)| (h, i as u32)).collect();
        let groups = p.hashes.iter().map(|&h| group(h) as u8).collect();
        let mut f = Featurizer { params: p.params, tokenizer, ids, idf: p.idf, groups, cache: HashMap::new() };
        f.build_cache(&p.words)?;
        Ok(f)
    }
}

/// A tokenizer from its JSON. tokenizers 0.23 panics (`expect("Helper")` in its decoder deserializer) on
/// some malformed JSON instead of returning an error — found by the intent-file fuzz test — so the parse
/// runs under `catch_unwind` and a panic becomes a typed error.
fn parse_tokenizer(json: &str) -> Result<Tokenizer> {
    match std::panic::catch_unwind(|| json.parse::<Tokenizer>()) {
        Ok(parsed) => Ok(parsed?),
        Err(_) => Err(ChatError::Data("the tokenizer's JSON is malformed".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fitted() -> Featurizer {
        let texts: Vec<String> = ["where is my order", "cancel my order", "i want a refund", "refund please"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        Featurizer::fit(&texts, FeatureParams::default()).unwrap()
    }

    #[test]
    fn tf_idf_is_normalised_and_ignores_unknown_features() {
        let f = fitted();
        let mut v = Vec::new();
        f.transform("refund my order", &mut v).unwrap();
        let norm: f32 = v.iter().map(|p| p.1 * p.1).sum();
        assert!((norm - 3.0).abs() < 1e-4, "three groups of norm 1: {norm}");
        assert!(v.windows(2).all(|w| w[0].0 < w[1].0));
        f.transform("zzzz qqqq", &mut v).unwrap();
        assert!(v.is_empty(), "{v:?}");
        f.transform("", &mut v).unwrap();
        assert!(v.is_empty());
    }

    #[test]
    fn a_typo_keeps_most_character_ngrams() {
        let f = fitted();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        f.transform("refund", &mut a).unwrap();
        f.transform("refnud", &mut b).unwrap();
        let shared = a.iter().filter(|x| b.iter().any(|y| y.0 == x.0)).count();
        assert!(shared >= 4, "{shared} shared of {}", a.len());
    }

    #[test]
    fn parts_round_trip_and_bad_params() {
        let f = fitted();
        let g = Featurizer::from_parts(f.to_parts().unwrap()).unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        f.transform("cancel my refund", &mut a).unwrap();
        g.transform("cancel my refund", &mut b).unwrap();
        assert_eq!(a, b);
        let bad = FeatureParams { char_min: 6, char_max: 3, ..FeatureParams::default() };
        assert!(Featurizer::fit(&["a".to_string()], bad).is_err());
        assert!(Featurizer::fit(&[], FeatureParams::default()).is_err());
    }
}

#[cfg(test)]
mod determinism {
    use super::*;

    /// Words with many equally frequent character pairs, so BPE merge ties are common.
    fn texts() -> Vec<String> {
        let words = [
            "order",
            "refund",
            "cancel",
            "track",
            "parcel",
            "invoice",
            "address",
            "delivery",
            "payment",
            "account",
            "password",
            "shipping",
            "return",
            "voucher",
            "discount",
            "receipt",
            "warranty",
            "exchange",
            "basket",
            "checkout",
            "newsletter",
            "subscription",
            "complaint",
            "feedback",
            "lantern",
            "holder",
            "candle",
            "mug",
        ];
        (0..words.len() * 3)
            .map(|i| {
                format!(
                    "{} {} {}",
                    words[i % words.len()],
                    words[(i * 7 + 3) % words.len()],
                    words[(i * 5 + 1) % words.len()]
                )
            })
            .collect()
    }

    fn vocab(f: &Featurizer) -> Vec<(String, u32)> {
        let mut v: Vec<(String, u32)> = f.tokenizer.as_ref().unwrap().get_vocab(false).into_iter().collect();
        v.sort();
        v
    }

    #[test]
    fn the_wordpiece_vocabulary_does_not_depend_on_hash_order() {
        let params = FeatureParams { wordpiece_vocab: 120, ..FeatureParams::default() };
        let first = Featurizer::fit(&texts(), params.clone()).unwrap();
        for run in 0..8 {
            let again = Featurizer::fit(&texts(), params.clone()).unwrap();
            assert_eq!(vocab(&first), vocab(&again), "run {run}");
            assert_eq!(first.to_parts().unwrap().hashes, again.to_parts().unwrap().hashes, "run {run}");
        }
    }
}
