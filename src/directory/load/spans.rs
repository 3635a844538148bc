//! Where things are in a configuration file.
//!
//! A [`SpanTree`] mirrors every key of a parsed file with the byte range of its
//! value. It answers the two questions an error message needs: where is the
//! value at this key path (for problems found after parsing), and which
//! object holds this offset (for problems the TOML parser found).

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The names under which `toml` hands out a value's span. They are how
/// `toml::Spanned` works; a test checks them against it.
const SPANNED_NAME: &str = "$__serde_spanned_private_Spanned";
const SPANNED_START: &str = "$__serde_spanned_private_start";
const SPANNED_END: &str = "$__serde_spanned_private_end";
const SPANNED_VALUE: &str = "$__serde_spanned_private_value";
const SPANNED_FIELDS: &[&str] = &[SPANNED_START, SPANNED_END, SPANNED_VALUE];

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A key path from the root of a file: `process.sales-email.queue.inbound`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Path(Vec<Seg>);

impl Path {
    pub fn root() -> Path {
        Path(Vec::new())
    }

    pub fn key(&self, key: &str) -> Path {
        self.with(Seg::Key(key.to_owned()))
    }

    pub fn index(&self, index: usize) -> Path {
        self.with(Seg::Index(index))
    }

    fn with(&self, seg: Seg) -> Path {
        let mut segs = self.0.clone();
        segs.push(seg);
        Path(segs)
    }

    /// The path up to the object it is in, without the key path inside it.
    pub fn object_only(&self) -> Path {
        Path(self.0[..self.object_parts().1].to_vec())
    }

    pub fn segs(&self) -> &[Seg] {
        &self.0
    }

    /// The object this path is in, as an operator names it
    /// (`business process 'sales-email', queue 'inbound'`), and the rest of
    /// the path inside that object (`order`, `members[2]`).
    pub fn describe(&self) -> (Option<String>, String) {
        let (parts, at) = self.object_parts();
        let object = (!parts.is_empty()).then(|| parts.join(", "));
        (object, render_field(&self.0[at..]))
    }

    /// The names of the object and its containers, and where the key path
    /// inside the object starts.
    fn object_parts(&self) -> (Vec<String>, usize) {
        let segs = &self.0;
        let mut parts: Vec<String> = Vec::new();
        let mut at = 0;
        let name_at = |i: usize| key_at(segs, i);
        match name_at(0) {
            Some("tenant") => {
                parts.push("tenant".to_owned());
                at = 1;
            }
            Some(kind) => {
                if let (Some(label), Some(name)) = (top_level_label(kind), name_at(1)) {
                    parts.push(format!("{label} '{name}'"));
                    at = 2;
                    if kind == "process" {
                        at = describe_process_child(segs, at, &mut parts);
                    }
                }
            }
            None => {}
        }
        (parts, at)
    }
}

/// The key at `i` of `segs`, if that segment is a key.
fn key_at(segs: &[Seg], i: usize) -> Option<&str> {
    match segs.get(i) {
        Some(Seg::Key(key)) => Some(key.as_str()),
        _ => None,
    }
}

fn top_level_label(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "folder" => "folder",
        "media_type" => "media type",
        "capacity_rule" => "capacity rule",
        "person" => "person",
        "access_group" => "access group",
        "application" => "application",
        "process" => "business process",
        _ => return None,
    })
}

/// Describes a queue, view, strategy, step or workbin below a process;
/// returns where the field path starts.
fn describe_process_child(segs: &[Seg], mut at: usize, parts: &mut Vec<String>) -> usize {
    let key = |i: usize| key_at(segs, i);
    match (key(at), key(at + 1)) {
        (Some("queue"), Some(queue)) => {
            parts.push(format!("queue '{queue}'"));
            at += 2;
            if let (Some("view"), Some(view)) = (key(at), key(at + 1)) {
                parts.push(format!("view '{view}'"));
                at += 2;
            }
        }
        (Some("strategy"), Some(strategy)) => {
            parts.push(format!("strategy '{strategy}'"));
            at += 2;
            if let (Some("step"), Some(Seg::Index(i))) = (key(at), segs.get(at + 1)) {
                parts.push(format!("step {}", i + 1));
                at += 2;
            }
        }
        (Some("workbin"), Some(workbin)) => {
            parts.push(format!("workbin '{workbin}'"));
            at += 2;
        }
        _ => {}
    }
    at
}

fn render_field(segs: &[Seg]) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render_field(&self.0))
    }
}

/// Every key of a file with the byte range of its value. Tables that were
/// never written out (`process` in `[process.sales-email]`) have no range of
/// their own.
#[derive(Debug, Clone)]
pub(crate) struct SpanTree {
    span: Option<Range<usize>>,
    node: Node,
}

#[derive(Debug, Clone)]
enum Node {
    Leaf,
    Table(Vec<(String, SpanTree)>),
    Array(Vec<SpanTree>),
}

impl SpanTree {
    /// The tree of `text`, or `None` when it is not valid TOML.
    pub fn parse(text: &str) -> Option<SpanTree> {
        toml::from_str(text).ok()
    }

    /// A tree that knows nothing: every lookup falls back to "no location".
    pub fn empty() -> SpanTree {
        SpanTree {
            span: None,
            node: Node::Leaf,
        }
    }

    fn child(&self, seg: &Seg) -> Option<&SpanTree> {
        match (&self.node, seg) {
            (Node::Table(entries), Seg::Key(key)) => {
                entries.iter().find(|(k, _)| k == key).map(|(_, t)| t)
            }
            (Node::Array(items), Seg::Index(i)) => items.get(*i),
            _ => None,
        }
    }

    fn children(&self) -> Box<dyn Iterator<Item = (Seg, &SpanTree)> + '_> {
        match &self.node {
            Node::Leaf => Box::new(std::iter::empty()),
            Node::Table(entries) => Box::new(entries.iter().map(|(k, t)| (Seg::Key(k.clone()), t))),
            Node::Array(items) => {
                Box::new(items.iter().enumerate().map(|(i, t)| (Seg::Index(i), t)))
            }
        }
    }

    /// Its own range, or else the earliest range below it.
    fn first_span(&self) -> Option<Range<usize>> {
        self.span.clone().or_else(|| {
            self.children()
                .filter_map(|(_, child)| child.first_span())
                .min_by_key(|span| span.start)
        })
    }

    /// Where the value at `path` is written. For a path that goes further
    /// than the file (a key left to its default), the deepest part that is
    /// written.
    pub fn locate(&self, path: &Path) -> Option<Range<usize>> {
        let mut best = self.first_span();
        let mut node = self;
        for seg in path.segs() {
            match node.child(seg) {
                Some(child) => {
                    node = child;
                    if let Some(span) = node.first_span() {
                        best = Some(span);
                    }
                }
                None => break,
            }
        }
        best
    }

    /// Where the value at `path` is written, if that very key is.
    pub fn find(&self, path: &Path) -> Option<Range<usize>> {
        let mut node = self;
        for seg in path.segs() {
            node = node.child(seg)?;
        }
        node.first_span()
    }

    fn contains(&self, offset: usize) -> bool {
        let own = self.span.as_ref().is_some_and(|s| {
            s.start <= offset && (offset < s.end || (s.is_empty() && offset == s.start))
        });
        own || self.children().any(|(_, child)| child.contains(offset))
    }

    /// The path of the most deeply nested value written at `offset`.
    pub fn path_at(&self, offset: usize) -> Path {
        let mut segs = Vec::new();
        let mut node = self;
        'descend: loop {
            for (seg, child) in node.children() {
                if child.contains(offset) {
                    segs.push(seg);
                    node = child;
                    continue 'descend;
                }
            }
            break;
        }
        Path(segs)
    }
}

impl<'de> Deserialize<'de> for SpanTree {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Asking for a `Spanned` struct makes `toml` hand over the range of
        // the value first, when it knows one.
        deserializer.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, TreeVisitor)
    }
}

/// Visits a value that may come with its range.
struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = SpanTree;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SpanTree, A::Error> {
        let Some(first) = map.next_key::<String>()? else {
            return Ok(SpanTree {
                span: None,
                node: Node::Table(Vec::new()),
            });
        };
        if first == SPANNED_START {
            let start: usize = map.next_value()?;
            let mut end = start;
            let mut node = Node::Leaf;
            while let Some(key) = map.next_key::<String>()? {
                if key == SPANNED_END {
                    end = map.next_value()?;
                } else {
                    node = map.next_value_seed(NodeSeed)?;
                }
            }
            return Ok(SpanTree {
                span: Some(start..end),
                node,
            });
        }
        // A table without a range of its own: `first` is its first key.
        let mut entries = vec![(first, map.next_value::<SpanTree>()?)];
        while let Some(key) = map.next_key::<String>()? {
            entries.push((key, map.next_value()?));
        }
        Ok(SpanTree {
            span: None,
            node: Node::Table(entries),
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<SpanTree, A::Error> {
        NodeVisitor.visit_seq(seq).map(unspanned)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<SpanTree, E> {
        Ok(unspanned(Node::Leaf))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<SpanTree, E> {
        Ok(unspanned(Node::Leaf))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<SpanTree, E> {
        Ok(unspanned(Node::Leaf))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<SpanTree, E> {
        Ok(unspanned(Node::Leaf))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<SpanTree, E> {
        Ok(unspanned(Node::Leaf))
    }
}

fn unspanned(node: Node) -> SpanTree {
    SpanTree { span: None, node }
}

/// Deserialises the value inside a span.
struct NodeSeed;

impl<'de> DeserializeSeed<'de> for NodeSeed {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any TOML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            entries.push((key, map.next_value::<SpanTree>()?));
        }
        Ok(Node::Table(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<SpanTree>()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Leaf)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Leaf)
    }
}

/// Line and column (both from 1, the column counted in characters) of a byte
/// offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = floor_char_boundary(text, offset.min(text.len()));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the struct name and fields a `Deserialize` impl asks for.
    struct Probe<'a>(&'a mut Option<(&'static str, &'static [&'static str])>);

    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("probe"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = Some((name, fields));
            Err(de::Error::custom("probe"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    #[test]
    fn spanned_names_match_the_toml_crate() {
        let mut seen = None;
        let _ = toml::Spanned::<u8>::deserialize(Probe(&mut seen));
        assert_eq!(seen, Some((SPANNED_NAME, SPANNED_FIELDS)));
    }

    const TEXT: &str = r#"
[process.p]
description = "x"

[process.p.queue.q.view.v]
order = "priority desc"

[[process.p.strategy.s.step]]
target = "true"
[[process.p.strategy.s.step]]
target = "false"
"#;

    #[test]
    fn locates_values_and_implicit_tables() {
        let tree = SpanTree::parse(TEXT).unwrap();
        let order = tree
            .locate(
                &Path::root()
                    .key("process")
                    .key("p")
                    .key("queue")
                    .key("q")
                    .key("view")
                    .key("v")
                    .key("order"),
            )
            .unwrap();
        assert_eq!(&TEXT[order.clone()], "\"priority desc\"");
        assert_eq!(line_col(TEXT, order.start), (6, 9));
        // `queue.q` is never written as a table of its own: it is located at
        // the first thing below it.
        let queue = tree
            .locate(&Path::root().key("process").key("p").key("queue").key("q"))
            .unwrap();
        assert_eq!(line_col(TEXT, queue.start).0, 5);
        // A key left to its default is located at its object.
        let enabled = tree
            .locate(
                &Path::root()
                    .key("process")
                    .key("p")
                    .key("queue")
                    .key("q")
                    .key("view")
                    .key("v")
                    .key("enabled"),
            )
            .unwrap();
        assert_eq!(line_col(TEXT, enabled.start).0, 5);
    }

    #[test]
    fn finds_the_object_at_an_offset() {
        let tree = SpanTree::parse(TEXT).unwrap();
        let at = TEXT.find("\"false\"").unwrap();
        let path = tree.path_at(at);
        let (object, field) = path.describe();
        assert_eq!(
            object.as_deref(),
            Some("business process 'p', strategy 's', step 2")
        );
        assert_eq!(field, "target");

        let at = TEXT.find("description").unwrap();
        let (object, field) = tree.path_at(at).describe();
        assert_eq!(object.as_deref(), Some("business process 'p'"));
        assert_eq!(field, "");
    }

    #[test]
    fn counts_columns_in_characters() {
        assert_eq!(line_col("a\nbé=c", 5), (2, 3));
        // Inside a character: that character's column.
        assert_eq!(line_col("a\nbé=c", 4), (2, 2));
        assert_eq!(line_col("", 0), (1, 1));
    }
}
