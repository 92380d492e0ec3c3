//! kiln's query syntax, parsed into tantivy queries.
//!
//! A query is whitespace-separated terms, all of which must match:
//! - `neon` or `"neon city"`: free text over the prompt, model, LoRA names,
//!   sampler, scheduler, generator, path and the literal strings of an
//!   embedded node graph (not the negative prompt, so `-blurry` does not
//!   exclude every image whose negative prompt says "blurry"; a graph's
//!   strings include its negative prompt text, which free text then finds);
//! - `field:value` for `prompt`, `negative`, `path` (words of the text) and
//!   `model`, `lora`, `sampler`, `scheduler`, `generator`, `node` (a node
//!   class of the embedded graph: `node:FaceDetailer`) (a case-insensitive
//!   substring of the name: `model:juggernaut` matches
//!   `juggernautXL_v9.safetensors`; punctuation in the value matches any
//!   character);
//! - `field:N`, `field:>=N`, `field:>N`, `field:<=N`, `field:<N`,
//!   `field:A..B` (inclusive) for `seed`, `steps`, `cfg`, `width`, `height`,
//!   `score`;
//! - `session:ID` for the assets of one session (see
//!   [`ParsedQuery::resolve_sessions`]: sessions are derived when read, so
//!   the caller turns the id into asset ids before the query runs);
//! - curation: `rating:N` (and `rating:>=4`, `rating:<3`, `rating:2..4`;
//!   0 is unrated), `favorite:true` or `favorite:false`, `tag:keeper`,
//!   `collection:"client A"` (tags and collection names without regard to
//!   case). Curation lives in the store, not the index: the caller turns
//!   each term into asset ids when the query runs
//!   ([`ParsedQuery::resolve_curation`]), so a rating is found by the next
//!   search, whichever process set it;
//! - a leading `-` excludes what the term matches.

use crate::doc::Fields;
use crate::error::SearchError;
use kiln_plugin_api::AssetId;
use std::ops::Bound;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, Occur, PhraseQuery, Query, RangeQuery, RegexQuery,
    TermQuery, TermSetQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{Index, Term};

/// Why a query could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// A numeric field was given something that is not a number or range.
    #[error(
        "`{field}:{value}`: expected a number or a range such as `{field}:>=30` or `{field}:20..40`"
    )]
    BadNumber {
        /// The field.
        field: String,
        /// What was given.
        value: String,
    },
    /// A quote was opened and never closed.
    #[error("unclosed quote in the query: close it with another `\"`")]
    UnclosedQuote,
    /// A yes-or-no field was given something else.
    #[error("`{field}:{value}`: expected `{field}:true` or `{field}:false`")]
    BadFlag {
        /// The field.
        field: String,
        /// What was given.
        value: String,
    },
}

/// A curation term of a query, which the caller resolves to asset ids (see
/// [`ParsedQuery::resolve_curation`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CurationTerm {
    /// A rating within `min..=max` (0 is unrated; `min > max` matches
    /// nothing).
    Rating {
        /// The lowest rating, 0 to 5.
        min: u8,
        /// The highest rating, 0 to 5.
        max: u8,
    },
    /// Marked as a favorite (`true`) or not (`false`).
    Favorite(bool),
    /// Carries this tag.
    Tag(String),
    /// Is a member of this collection.
    Collection(String),
}

/// What a curation term resolved to: the assets it matches, or (for a
/// term most assets match, such as `rating:<=2`, which includes every
/// unrated asset) the assets it does not match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Exactly these assets match.
    Only(Vec<AssetId>),
    /// Every asset matches except these.
    AllBut(Vec<AssetId>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextField {
    All,
    Prompt,
    Negative,
    Path,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NameField {
    Model,
    Lora,
    Sampler,
    Scheduler,
    Generator,
    Node,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberField {
    Seed,
    Steps,
    Cfg,
    Width,
    Height,
    Score,
}

#[derive(Debug, Clone, PartialEq)]
enum Matcher {
    Words(TextField, String),
    Name(NameField, String),
    Range(NumberField, Bound<f64>, Bound<f64>),
    /// A session id not yet resolved: matches nothing.
    Session(String),
    /// A curation term not yet resolved: matches nothing.
    Curation(CurationTerm),
    /// Exactly these assets.
    Assets(Vec<AssetId>),
}

#[derive(Debug, Clone, PartialEq)]
struct Clause {
    negated: bool,
    matcher: Matcher,
}

/// A parsed query, ready to run against an index.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedQuery {
    clauses: Vec<Clause>,
}

impl ParsedQuery {
    /// Whether the query has no terms (it matches everything).
    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    /// The session ids named by `session:` terms, in query order.
    pub fn session_ids(&self) -> Vec<String> {
        self.clauses
            .iter()
            .filter_map(|c| match &c.matcher {
                Matcher::Session(id) => Some(id.clone()),
                _ => None,
            })
            .collect()
    }

    /// Replaces every `session:ID` term by the asset ids `members` returns
    /// for that session (none for an unknown session, which then matches
    /// nothing, or, negated, excludes nothing).
    pub fn resolve_sessions(&mut self, mut members: impl FnMut(&str) -> Vec<AssetId>) {
        for clause in &mut self.clauses {
            if let Matcher::Session(id) = &clause.matcher {
                clause.matcher = Matcher::Assets(members(id));
            }
        }
    }

    /// The curation terms, in query order.
    pub fn curation_terms(&self) -> Vec<CurationTerm> {
        self.clauses
            .iter()
            .filter_map(|c| match &c.matcher {
                Matcher::Curation(term) => Some(term.clone()),
                _ => None,
            })
            .collect()
    }

    /// Replaces every curation term by the asset ids `resolve` gives for it
    /// (a negated term then excludes them). An error from `resolve` stops
    /// the resolution and is returned.
    pub fn resolve_curation<E>(
        &mut self,
        mut resolve: impl FnMut(&CurationTerm) -> Result<Resolved, E>,
    ) -> Result<(), E> {
        for clause in &mut self.clauses {
            if let Matcher::Curation(term) = &clause.matcher {
                clause.matcher = match resolve(term)? {
                    Resolved::Only(ids) => Matcher::Assets(ids),
                    Resolved::AllBut(ids) => {
                        clause.negated = !clause.negated;
                        Matcher::Assets(ids)
                    }
                };
            }
        }
        Ok(())
    }

    pub(crate) fn build(
        &self,
        index: &Index,
        fields: &Fields,
    ) -> Result<Box<dyn Query>, SearchError> {
        let mut parts: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for clause in &self.clauses {
            let Some(query) = clause.matcher.build(index, fields)? else {
                continue;
            };
            let occur = if clause.negated {
                Occur::MustNot
            } else {
                Occur::Must
            };
            parts.push((occur, query));
        }
        if !parts.iter().any(|(o, _)| *o == Occur::Must) {
            parts.push((Occur::Must, Box::new(AllQuery)));
        }
        Ok(Box::new(BooleanQuery::new(parts)))
    }
}

fn tokens(index: &Index, field: Field, text: &str) -> Vec<Term> {
    let Ok(mut analyzer) = index.tokenizer_for_field(field) else {
        return Vec::new();
    };
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(Term::from_field_text(field, &stream.token().text));
    }
    out
}

fn substring_pattern(value: &str) -> String {
    let inner: String = value
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { '.' })
        .collect();
    format!(".*{inner}.*")
}

impl Matcher {
    fn build(&self, index: &Index, fields: &Fields) -> Result<Option<Box<dyn Query>>, SearchError> {
        let fail = |e: tantivy::TantivyError| SearchError::Index {
            action: "building the query",
            dir: std::path::PathBuf::new(),
            message: e.to_string(),
        };
        Ok(match self {
            Matcher::Words(which, text) => {
                let field = match which {
                    TextField::All => fields.all,
                    TextField::Prompt => fields.prompt,
                    TextField::Negative => fields.negative,
                    TextField::Path => fields.path,
                };
                let terms = tokens(index, field, text);
                match terms.len() {
                    0 => None,
                    1 => terms.into_iter().next().map(|t| {
                        Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs)) as Box<dyn Query>
                    }),
                    _ => Some(Box::new(PhraseQuery::new(terms)) as Box<dyn Query>),
                }
            }
            Matcher::Name(which, value) => {
                let field = match which {
                    NameField::Model => fields.model,
                    NameField::Lora => fields.lora,
                    NameField::Sampler => fields.sampler,
                    NameField::Scheduler => fields.scheduler,
                    NameField::Generator => fields.generator,
                    NameField::Node => fields.node,
                };
                let query =
                    RegexQuery::from_pattern(&substring_pattern(value), field).map_err(fail)?;
                Some(Box::new(query))
            }
            Matcher::Range(which, lo, hi) => {
                let (field, float) = match which {
                    NumberField::Seed => (fields.seed, false),
                    NumberField::Steps => (fields.steps, false),
                    NumberField::Width => (fields.width, false),
                    NumberField::Height => (fields.height, false),
                    NumberField::Cfg => (fields.cfg, true),
                    NumberField::Score => (fields.quality, true),
                };
                let term = |v: f64| {
                    if float {
                        Term::from_field_f64(field, v)
                    } else {
                        Term::from_field_u64(field, v.max(0.0).ceil() as u64)
                    }
                };
                // Integer fields: a strict or fractional lower bound rounds up.
                let map = |b: &Bound<f64>, upper: bool| match *b {
                    Bound::Included(v) if !float && upper => Bound::Included(term(v.floor())),
                    Bound::Excluded(v) if !float && upper => {
                        if v.fract() == 0.0 {
                            Bound::Excluded(term(v))
                        } else {
                            Bound::Included(term(v.floor()))
                        }
                    }
                    Bound::Included(v) => Bound::Included(term(v)),
                    Bound::Excluded(v) if !float && v.fract() != 0.0 => Bound::Included(term(v)),
                    Bound::Excluded(v) => Bound::Excluded(term(v)),
                    Bound::Unbounded => Bound::Unbounded,
                };
                let (lower, upper) = (map(lo, false), map(hi, true));
                // A range query needs one bound; "any value" is the widest range.
                let lower = match (&lower, &upper) {
                    (Bound::Unbounded, Bound::Unbounded) => {
                        Bound::Included(term(if float { f64::MIN } else { 0.0 }))
                    }
                    _ => lower,
                };
                Some(Box::new(RangeQuery::new(lower, upper)))
            }
            Matcher::Session(_) | Matcher::Curation(_) => Some(Box::new(EmptyQuery)),
            Matcher::Assets(ids) if ids.is_empty() => Some(Box::new(EmptyQuery)),
            Matcher::Assets(ids) => Some(Box::new(TermSetQuery::new(
                ids.iter()
                    .map(|id| Term::from_field_u64(fields.id, id.get())),
            ))),
        })
    }
}

fn split_terms(query: &str) -> Result<Vec<String>, QueryError> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in query.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if quoted {
        return Err(QueryError::UnclosedQuote);
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

fn unquote(s: &str) -> String {
    s.trim_matches('"').to_owned()
}

fn parse_range(field: &str, value: &str) -> Result<(Bound<f64>, Bound<f64>), QueryError> {
    let bad = || QueryError::BadNumber {
        field: field.to_owned(),
        value: value.to_owned(),
    };
    let number = |s: &str| s.trim().parse::<f64>().ok().filter(|v| v.is_finite());
    let bounds = if let Some(rest) = value.strip_prefix(">=") {
        (
            Bound::Included(number(rest).ok_or_else(bad)?),
            Bound::Unbounded,
        )
    } else if let Some(rest) = value.strip_prefix("<=") {
        (
            Bound::Unbounded,
            Bound::Included(number(rest).ok_or_else(bad)?),
        )
    } else if let Some(rest) = value.strip_prefix('>') {
        (
            Bound::Excluded(number(rest).ok_or_else(bad)?),
            Bound::Unbounded,
        )
    } else if let Some(rest) = value.strip_prefix('<') {
        (
            Bound::Unbounded,
            Bound::Excluded(number(rest).ok_or_else(bad)?),
        )
    } else if let Some((lo, hi)) = value.split_once("..") {
        (
            Bound::Included(number(lo).ok_or_else(bad)?),
            Bound::Included(number(hi).ok_or_else(bad)?),
        )
    } else {
        let v = number(value).ok_or_else(bad)?;
        (Bound::Included(v), Bound::Included(v))
    };
    Ok(bounds)
}

/// The whole ratings a range of numbers holds, within 0..=5.
fn rating_range(lo: Bound<f64>, hi: Bound<f64>) -> CurationTerm {
    let low = match lo {
        Bound::Included(v) => v.ceil(),
        Bound::Excluded(v) => v.floor() + 1.0,
        Bound::Unbounded => 0.0,
    };
    let high = match hi {
        Bound::Included(v) => v.floor(),
        Bound::Excluded(v) => v.ceil() - 1.0,
        Bound::Unbounded => 5.0,
    };
    let clamp = |v: f64| v.clamp(0.0, 5.0) as u8;
    if low > high || high < 0.0 || low > 5.0 {
        // Nothing: a range no rating falls in.
        return CurationTerm::Rating { min: 1, max: 0 };
    }
    CurationTerm::Rating {
        min: clamp(low),
        max: clamp(high),
    }
}

fn parse_flag(field: &str, value: &str) -> Result<bool, QueryError> {
    match value.to_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(QueryError::BadFlag {
            field: field.to_owned(),
            value: value.to_owned(),
        }),
    }
}

/// Parses a query in kiln's syntax (see the module documentation).
///
/// # Errors
///
/// A [`QueryError`] for a malformed number or range, or an unclosed quote.
pub fn parse_query(query: &str) -> Result<ParsedQuery, QueryError> {
    let mut clauses = Vec::new();
    for raw in split_terms(query)? {
        let (negated, term) = match raw.strip_prefix('-') {
            Some(rest) if !rest.is_empty() => (true, rest),
            _ => (false, raw.as_str()),
        };
        let matcher = match term.split_once(':') {
            Some((name, value)) if !name.starts_with('"') && !value.is_empty() => {
                let value_text = unquote(value);
                match name.to_lowercase().as_str() {
                    "prompt" | "positive" => Matcher::Words(TextField::Prompt, value_text),
                    "negative" | "neg" => Matcher::Words(TextField::Negative, value_text),
                    "path" | "file" => Matcher::Words(TextField::Path, value_text),
                    "model" | "checkpoint" => Matcher::Name(NameField::Model, value_text),
                    "lora" => Matcher::Name(NameField::Lora, value_text),
                    "sampler" => Matcher::Name(NameField::Sampler, value_text),
                    "scheduler" => Matcher::Name(NameField::Scheduler, value_text),
                    "generator" | "tool" => Matcher::Name(NameField::Generator, value_text),
                    "node" | "class" => Matcher::Name(NameField::Node, value_text),
                    "session" => Matcher::Session(value_text.to_lowercase()),
                    "rating" | "stars" => {
                        let (lo, hi) = parse_range("rating", &value_text)?;
                        Matcher::Curation(rating_range(lo, hi))
                    }
                    field @ ("favorite" | "fav") => {
                        Matcher::Curation(CurationTerm::Favorite(parse_flag(field, &value_text)?))
                    }
                    "tag" => Matcher::Curation(CurationTerm::Tag(value_text)),
                    "collection" | "col" => Matcher::Curation(CurationTerm::Collection(value_text)),
                    other => {
                        let field = match other {
                            "seed" => Some(NumberField::Seed),
                            "steps" => Some(NumberField::Steps),
                            "cfg" => Some(NumberField::Cfg),
                            "width" | "w" => Some(NumberField::Width),
                            "height" | "h" => Some(NumberField::Height),
                            "score" | "quality" => Some(NumberField::Score),
                            _ => None,
                        };
                        match field {
                            Some(field) => {
                                let (lo, hi) = parse_range(other, &value_text)?;
                                Matcher::Range(field, lo, hi)
                            }
                            None => Matcher::Words(TextField::All, unquote(term)),
                        }
                    }
                }
            }
            _ => Matcher::Words(TextField::All, unquote(term)),
        };
        clauses.push(Clause { negated, matcher });
    }
    Ok(ParsedQuery { clauses })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(query: &str) -> Vec<CurationTerm> {
        parse_query(query).expect("parses").curation_terms()
    }

    #[test]
    fn curation_terms_are_parsed() {
        let r = |min, max| CurationTerm::Rating { min, max };
        assert_eq!(terms("rating:4"), vec![r(4, 4)]);
        assert_eq!(terms("rating:>=4"), vec![r(4, 5)]);
        assert_eq!(terms("rating:>3.5"), vec![r(4, 5)]);
        assert_eq!(terms("rating:<3"), vec![r(0, 2)]);
        assert_eq!(terms("stars:2..9"), vec![r(2, 5)]);
        assert_eq!(terms("rating:>5"), vec![r(1, 0)]);
        assert_eq!(terms("rating:<0"), vec![r(1, 0)]);
        assert_eq!(
            terms("favorite:true -fav:no"),
            vec![CurationTerm::Favorite(true), CurationTerm::Favorite(false)]
        );
        assert_eq!(
            terms(r#"neon tag:keeper -tag:draft collection:"client A""#),
            vec![
                CurationTerm::Tag("keeper".into()),
                CurationTerm::Tag("draft".into()),
                CurationTerm::Collection("client A".into()),
            ]
        );
        assert!(matches!(
            parse_query("favorite:maybe"),
            Err(QueryError::BadFlag { .. })
        ));
        assert!(matches!(
            parse_query("rating:lots"),
            Err(QueryError::BadNumber { .. })
        ));
    }

    #[test]
    fn a_complement_flips_the_clause() {
        let mut parsed = parse_query("rating:<=2 -tag:draft").expect("parses");
        parsed
            .resolve_curation(|term| {
                Ok::<_, ()>(match term {
                    CurationTerm::Rating { .. } => Resolved::AllBut(vec![AssetId::new(7)]),
                    _ => Resolved::Only(vec![AssetId::new(3)]),
                })
            })
            .expect("resolves");
        let negated: Vec<(bool, Matcher)> = parsed
            .clauses
            .iter()
            .map(|c| (c.negated, c.matcher.clone()))
            .collect();
        assert_eq!(
            negated,
            vec![
                (true, Matcher::Assets(vec![AssetId::new(7)])),
                (true, Matcher::Assets(vec![AssetId::new(3)])),
            ]
        );
        assert!(parsed.curation_terms().is_empty());
    }
}
