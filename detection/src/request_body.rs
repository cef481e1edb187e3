//! Reads a Messages API request body straight from its bytes into segments and facts
//! ([`inspect_body`]); a Message Batches body is read as the Messages bodies of its
//! requests ([`inspect_batch_body`]), a legacy Text Completions body as the turns of its
//! prompt ([`inspect_completion_body`]), an OpenAI Chat Completions body (the API's OpenAI
//! SDK compatibility layer) by its roles ([`inspect_chat_completion_body`], in `chat.rs`),
//! and Managed Agents session events by their types ([`inspect_session_events_body`]).
//!
//! This is what the gateway runs on every inspected request. It yields exactly what the
//! earlier extraction over a parsed `serde_json::Value` yields (kept as the oracle in
//! `tests/value_reference`; a proptest holds them equal), without building that tree: parsing an ~85 KB Claude Code body into a `Value` allocates
//! every object of its ~40 KB of tool schemas and costs several times a validating skip of
//! the same bytes. Here only the fields the scan reads are kept (strings borrowed from the
//! body where they hold no escapes); everything else is validated and skipped.
//!
//! Shapes are read leniently, like the `Value` path: a field of an unexpected JSON type is
//! skipped, not an error, so a request the upstream may accept is never refused for its
//! shape here. Two things are stricter than the `Value` path:
//! - a key the scan reads that appears twice in one object (`messages`, `system`, a block's
//!   `text`, ...) is refused: a `Value` keeps the last one, and a scanner and an upstream
//!   that disagree on which copy counts would let the unscanned one through;
//! - the top level must be an object.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::segments::{RequestFacts, Segment, SegmentRef, SourceKind};

mod chat;
mod session_events;
pub use chat::inspect_chat_completion_body;
pub use session_events::inspect_session_events_body;

/// A request body that could not be read for inspection.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is not valid JSON ({0})")]
    Json(serde_json::Error),
    /// Valid JSON that is ambiguous to inspect (a duplicate key the scan reads).
    #[error("the request body is ambiguous ({0})")]
    Ambiguous(serde_json::Error),
    #[error("the request body must be a JSON object")]
    NotObject,
    /// The fields inspection reads hold so many array elements, object entries and strings
    /// that reading them would take more than [`MAX_READ_BYTES`].
    #[error(
        "the request body has too many array elements, object entries and strings in the fields the gateway inspects (reading them would take more than {} MiB)",
        MAX_READ_BYTES >> 20
    )]
    TooManyItems,
}

/// The most memory reading one body's inspected fields may take. Every item kept is
/// charged what it costs: a message, content block or tool its size plus the segment it
/// may become (~250 bytes), a schema string or an object key 24 bytes, a `tool_use` input
/// value 32 to 80 bytes; fields that are skipped are only validated and cost nothing. A
/// 32 MB body of empty blocks (`[{},{},...]`, ten million of them) cost 3.4 GB and 11 s
/// to read before this bound. Real requests stay far below it: a 32 MB Message Batches
/// body of 800 requests that each carry Claude Code's 25 tool schemas (~1.3 million
/// schema strings) is charged ~35 MB.
pub const MAX_READ_BYTES: usize = 64 << 20;

thread_local! {
    /// Bytes charged so far by the body reader running on this thread (the readers are
    /// synchronous: one body at a time per thread).
    static BYTES_CHARGED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// What an array element read into a `T` is charged: its size and a segment it may become.
fn element_cost<T>() -> usize {
    std::mem::size_of::<T>() + std::mem::size_of::<Segment>() + 32
}

/// Charges `bytes` against [`MAX_READ_BYTES`]; an error once the body has used it up.
fn charge<E: de::Error>(bytes: usize) -> Result<(), E> {
    BYTES_CHARGED.with(|charged| {
        let total = charged.get().saturating_add(bytes);
        charged.set(total);
        if total > MAX_READ_BYTES { Err(E::custom("too many items to inspect")) } else { Ok(()) }
    })
}

/// Whether the body being read has used up its budget (for readers that parse a second
/// time, after [`read_json`]: a tool call's `arguments`).
fn items_over_budget() -> bool {
    BYTES_CHARGED.with(std::cell::Cell::get) > MAX_READ_BYTES
}

/// The most turns a Text Completions prompt may be cut into, at an array element's cost.
fn max_completion_turns() -> usize {
    MAX_READ_BYTES / element_cost::<(Option<&str>, &str)>()
}

/// Parses `bytes` as `T` with a fresh budget.
fn read_json<'de, T: FromJson<'de>>(bytes: &'de [u8]) -> Result<T, BodyError> {
    BYTES_CHARGED.with(|charged| charged.set(0));
    match serde_json::from_slice::<Lenient<T>>(bytes) {
        Ok(Lenient(value)) => Ok(value),
        Err(_) if items_over_budget() => Err(BodyError::TooManyItems),
        Err(e) => Err(e.into()),
    }
}

impl From<serde_json::Error> for BodyError {
    fn from(err: serde_json::Error) -> Self {
        // Every JSON type is accepted everywhere, so the only data errors are ours.
        match err.classify() {
            serde_json::error::Category::Data => BodyError::Ambiguous(err),
            _ => BodyError::Json(err),
        }
    }
}

/// What inspection needs from a request body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InspectedBody {
    pub facts: RequestFacts,
    /// Every scannable segment, in body order.
    pub segments: Vec<Segment>,
}

/// Parses `bytes` as a Messages API request body and extracts its facts and segments.
pub fn inspect_body(bytes: &[u8]) -> Result<InspectedBody, BodyError> {
    let body = read_json::<Body<'_>>(bytes)?;
    if !body.is_object {
        return Err(BodyError::NotObject);
    }
    Ok(body.into_inspected())
}

/// One request of a Message Batches body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchRequest {
    /// Its `custom_id`, when that is a string.
    pub custom_id: Option<String>,
    /// The facts of its `params` (a Messages body).
    pub facts: RequestFacts,
}

/// What inspection needs from a Message Batches body (`POST /v1/messages/batches`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InspectedBatch {
    /// One entry per element of `requests`, in order (an element that is not an object,
    /// or has no object `params`, has default facts and no segments).
    pub requests: Vec<BatchRequest>,
    /// Every request's segments, in body order; each origin's `request_index` says whose.
    pub segments: Vec<Segment>,
}

/// Parses `bytes` as a Message Batches body, `{"requests":[{"custom_id","params"}]}`: each
/// request's `params` is read as a Messages body ([`inspect_body`]), with the same rules
/// (a duplicate `requests`, `custom_id` or `params` key is refused as ambiguous).
pub fn inspect_batch_body(bytes: &[u8]) -> Result<InspectedBatch, BodyError> {
    let batch = read_json::<BatchBody<'_>>(bytes)?;
    if !batch.is_object {
        return Err(BodyError::NotObject);
    }
    let mut inspected = InspectedBatch::default();
    for (i, request) in batch.requests.and_then(|l| l.0).unwrap_or_default().into_iter().enumerate() {
        let custom_id = Text::as_str(&request.custom_id).map(str::to_owned);
        let body = request.params.unwrap_or_default();
        let InspectedBody { facts, segments } = body.into_inspected();
        inspected.requests.push(BatchRequest { custom_id, facts });
        inspected.segments.extend(segments.into_iter().map(|mut segment| {
            segment.origin.request_index = Some(i);
            segment
        }));
    }
    Ok(inspected)
}

/// Parses `bytes` as a legacy Text Completions body (`POST /v1/complete`): `prompt` is
/// cut into turns at its `\n\nHuman:` and `\n\nAssistant:` markers (text before the first
/// marker is the system prompt), so each turn is scanned as user or assistant text and the
/// markers themselves are not taken for fake turns; `max_tokens_to_sample` is `max_tokens`.
pub fn inspect_completion_body(bytes: &[u8]) -> Result<InspectedBody, BodyError> {
    let body = read_json::<CompletionBody<'_>>(bytes)?;
    if !body.is_object {
        return Err(BodyError::NotObject);
    }
    let prompt = Text::as_str(&body.prompt).unwrap_or_default();
    let turns = completion_turns(prompt).ok_or(BodyError::TooManyItems)?;
    let mut segments = Vec::new();
    let mut has_system_prompt = false;
    for (turn, (role, text)) in turns.into_iter().enumerate() {
        let (kind, role, index) = match role {
            None => (SourceKind::System, None, None),
            Some(role) => {
                let kind = if role == "user" { SourceKind::UserText } else { SourceKind::AssistantText };
                // Turn 0 is the text before the first marker.
                (kind, Some(role.to_owned()), Some(turn.saturating_sub(1)))
            }
        };
        has_system_prompt |= kind == SourceKind::System && !text.is_empty();
        push(&mut segments, base(kind, role, index), None, Cow::Borrowed(text));
    }
    let facts = RequestFacts {
        model: Text::as_str(&body.model).map(str::to_owned),
        max_tokens: body.max_tokens_to_sample.and_then(|c| c.0),
        stream: body.stream.and_then(|f| f.0).unwrap_or(false),
        has_system_prompt,
        tool_names: Vec::new(),
        tool_count: 0,
    };
    Ok(InspectedBody { facts, segments })
}

/// A completion prompt's turns: `(None, text before the first marker)`, then
/// `(Some("user" | "assistant"), text)` for each `\n\nHuman:` / `\n\nAssistant:` turn.
/// `None` when there are more than [`max_completion_turns`]: a prompt of nothing but
/// markers (`\n\nHuman:` is 9 bytes) would be millions of segments, so each turn is
/// charged like an array element, and the cutting stops there.
fn completion_turns(prompt: &str) -> Option<Vec<(Option<&'static str>, &str)>> {
    const MARKERS: [(&str, &str); 2] = [("\n\nHuman:", "user"), ("\n\nAssistant:", "assistant")];
    // The next occurrence of each marker at or after the cursor, searched again only once
    // the cursor has passed it: re-searching both on every turn would rescan the rest of
    // the prompt per turn (quadratic in a prompt of many turns of one kind).
    let find = |marker: &str, from: usize| prompt.get(from..).and_then(|rest| rest.find(marker)).map(|at| from + at);
    let mut next: [Option<usize>; 2] = [find(MARKERS[0].0, 0), find(MARKERS[1].0, 0)];
    let mut turns = Vec::new();
    let (mut role, mut start) = (None, 0);
    loop {
        for (slot, (marker, _)) in next.iter_mut().zip(MARKERS) {
            if slot.is_some_and(|at| at < start) {
                *slot = find(marker, start);
            }
        }
        let Some((which, at)) =
            next.iter().enumerate().filter_map(|(i, at)| at.map(|at| (i, at))).min_by_key(|(_, at)| *at)
        else {
            break;
        };
        turns.push((role, &prompt[start..at]));
        if turns.len() > max_completion_turns() {
            return None;
        }
        let (marker, next_role) = MARKERS[which];
        (role, start) = (Some(next_role), at + marker.len());
    }
    turns.push((role, &prompt[start..]));
    (turns.len() <= max_completion_turns()).then_some(turns)
}

/// How a type is built from each JSON type; every type it does not expect yields
/// `Default` (the value is still validated and skipped).
trait FromJson<'de>: Default {
    fn from_str(_text: Cow<'de, str>) -> Self {
        Self::default()
    }
    fn from_u64(_number: u64) -> Self {
        Self::default()
    }
    fn from_bool(_flag: bool) -> Self {
        Self::default()
    }
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }
    fn from_map<A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }
}

/// Deserializes any JSON value into `T` through [`FromJson`].
struct Lenient<T>(T);

impl<'de, T: FromJson<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LenientVisitor(PhantomData)).map(Lenient)
    }
}

struct LenientVisitor<T>(PhantomData<T>);

impl<'de, T: FromJson<'de>> Visitor<'de> for LenientVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        Ok(T::from_bool(v))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Ok(T::from_u64(v))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<T, E> {
        Ok(T::from_str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        Ok(T::from_str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<T, E> {
        Ok(T::from_str(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::from_seq(seq)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::from_map(map)
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Lenient(Text(text)) = Lenient::<Text<'de>>::deserialize(deserializer)?;
        Ok(Key(text.unwrap_or_default()))
    }
}

/// Walks an object's entries: `field` reads the value of a key it knows and returns
/// `true`; every other value is validated and skipped.
fn read_object<'de, A, F>(mut map: A, mut field: F) -> Result<(), A::Error>
where
    A: MapAccess<'de>,
    F: FnMut(&str, &mut A) -> Result<bool, A::Error>,
{
    while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
        if !field(&key, &mut map)? {
            map.next_value::<IgnoredAny>()?;
        }
    }
    Ok(())
}

/// Implements [`FromJson`] for a struct read from an object: each listed key's value into
/// its field (a second occurrence refused, see [`read_once`]), every other key validated
/// and skipped; `mark is_object` sets that field, so a non-object body can be told apart.
macro_rules! read_fields {
    ($name:ident { $($key:literal => $field:ident),+ $(,)? } $(mark $flag:ident)?) => {
        impl<'de> $crate::request_body::FromJson<'de> for $name<'de> {
            fn from_map<A: ::serde::de::MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
                let mut value = $name::default();
                $(value.$flag = true;)?
                $crate::request_body::read_object(map, |key, map| match key {
                    $($key => $crate::request_body::read_once(map, &mut value.$field, key),)+
                    _ => Ok(false),
                })?;
                Ok(value)
            }
        }
    };
}
use read_fields;

/// Reads the value of `key` into `slot`, refusing a second occurrence of the key.
fn read_once<'de, A, T>(map: &mut A, slot: &mut Option<T>, key: &str) -> Result<bool, A::Error>
where
    A: MapAccess<'de>,
    T: FromJson<'de>,
{
    if slot.is_some() {
        return Err(duplicate(key));
    }
    *slot = Some(map.next_value::<Lenient<T>>()?.0);
    Ok(true)
}

fn duplicate<E: de::Error>(key: &str) -> E {
    E::custom(format_args!("duplicate key `{key}` in an object the gateway inspects"))
}

/// A string, or `None` for any other JSON type (`Value::as_str`).
#[derive(Default)]
struct Text<'de>(Option<Cow<'de, str>>);

impl<'de> FromJson<'de> for Text<'de> {
    fn from_str(text: Cow<'de, str>) -> Self {
        Text(Some(text))
    }
}

impl<'de> Text<'de> {
    fn as_str<'a>(slot: &'a Option<Text<'de>>) -> Option<&'a str> {
        slot.as_ref().and_then(|t| t.0.as_deref())
    }
}

/// A non-negative integer (`Value::as_u64`).
#[derive(Default)]
struct Count(Option<u64>);

impl FromJson<'_> for Count {
    fn from_u64(number: u64) -> Self {
        Count(Some(number))
    }
}

/// A boolean (`Value::as_bool`).
#[derive(Default)]
struct Flag(Option<bool>);

impl FromJson<'_> for Flag {
    fn from_bool(flag: bool) -> Self {
        Flag(Some(flag))
    }
}

/// An array whose entries are read leniently; entries of another type count as default
/// values, so indexes match the body's.
struct List<T>(Option<Vec<T>>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(None)
    }
}

impl<'de, T: FromJson<'de>> FromJson<'de> for List<T> {
    fn from_seq<A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(Lenient(item)) = seq.next_element::<Lenient<T>>()? {
            charge(element_cost::<T>())?;
            items.push(item);
        }
        Ok(List(Some(items)))
    }
}

/// A field that is a string, an array of blocks (`system`, `content`) or one object (the
/// `content` of a server tool's result block, e.g. a `web_fetch_result`).
#[derive(Default)]
enum TextOrBlocks<'de> {
    #[default]
    Other,
    Text(Cow<'de, str>),
    Blocks(Vec<Block<'de>>),
    Object(Box<Block<'de>>),
}

impl<'de> FromJson<'de> for TextOrBlocks<'de> {
    fn from_str(text: Cow<'de, str>) -> Self {
        TextOrBlocks::Text(text)
    }
    fn from_seq<A: SeqAccess<'de>>(seq: A) -> Result<Self, A::Error> {
        let List(blocks) = List::<Block<'de>>::from_seq(seq)?;
        Ok(blocks.map_or(TextOrBlocks::Other, TextOrBlocks::Blocks))
    }
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        Ok(TextOrBlocks::Object(Box::new(Block::from_map(map)?)))
    }
}

/// The top-level object: only the fields inspection reads.
#[derive(Default)]
struct Body<'de> {
    is_object: bool,
    system: Option<TextOrBlocks<'de>>,
    messages: Option<List<Message<'de>>>,
    model: Option<Text<'de>>,
    max_tokens: Option<Count>,
    stream: Option<Flag>,
    tools: Option<List<Tool<'de>>>,
}

read_fields!(Body {
    "system" => system,
    "messages" => messages,
    "model" => model,
    "max_tokens" => max_tokens,
    "stream" => stream,
    "tools" => tools,
} mark is_object);

/// A Text Completions body: only the fields inspection reads.
#[derive(Default)]
struct CompletionBody<'de> {
    is_object: bool,
    prompt: Option<Text<'de>>,
    model: Option<Text<'de>>,
    max_tokens_to_sample: Option<Count>,
    stream: Option<Flag>,
}

read_fields!(CompletionBody {
    "prompt" => prompt,
    "model" => model,
    "max_tokens_to_sample" => max_tokens_to_sample,
    "stream" => stream,
} mark is_object);

/// A Message Batches body: only `requests`.
#[derive(Default)]
struct BatchBody<'de> {
    is_object: bool,
    requests: Option<List<BatchEntry<'de>>>,
}

read_fields!(BatchBody { "requests" => requests } mark is_object);

#[derive(Default)]
struct BatchEntry<'de> {
    custom_id: Option<Text<'de>>,
    params: Option<Body<'de>>,
}

read_fields!(BatchEntry { "custom_id" => custom_id, "params" => params });

#[derive(Default)]
struct Message<'de> {
    role: Option<Text<'de>>,
    content: Option<TextOrBlocks<'de>>,
}

read_fields!(Message { "role" => role, "content" => content });

#[derive(Default)]
struct Tool<'de> {
    name: Option<Text<'de>>,
    description: Option<Text<'de>>,
    input_schema: Option<Strings<'de>>,
    /// Example inputs shown to the model (the tool-use examples beta): text it reads too.
    input_examples: Option<Strings<'de>>,
}

read_fields!(Tool {
    "name" => name,
    "description" => description,
    "input_schema" => input_schema,
    "input_examples" => input_examples,
});

impl Tool<'_> {
    /// The tool definition's text: its description, then every key and string value of
    /// its schema and of its input examples, one per line (see [`tool_definition_text`]).
    fn definition_text(&self) -> String {
        let strings = [&self.input_schema, &self.input_examples].into_iter().flatten();
        tool_definition_text(Text::as_str(&self.description), strings)
    }
}

/// A tool definition as scanned: the description (when it is a string), then the schema's
/// strings, joined by newlines. Property names, descriptions, enum values, defaults and
/// examples are all text the model reads, so a poisoned MCP server can hide instructions
/// in any of them.
pub(crate) fn tool_definition_text<'s, 'de: 's>(
    description: Option<&str>,
    strings: impl Iterator<Item = &'s Strings<'de>> + Clone,
) -> String {
    let strings = || strings.clone().flat_map(|s| s.0.iter().map(|part| &**part));
    let parts = description.into_iter().chain(strings());
    let mut text =
        String::with_capacity(description.map_or(0, str::len) + strings().map(|s| s.len() + 1).sum::<usize>());
    for (i, part) in parts.enumerate() {
        if i > 0 {
            text.push('\n');
        }
        text.push_str(part);
    }
    text
}

/// Every object key and string value of a JSON value, depth first, each object's entries
/// in key order (numbers, booleans and nulls left out). Key order, not body order, so the
/// text does not depend on how a client orders a schema's keys (and equals what a walk
/// over a `serde_json::Value` gives). A key that appears twice in one object is refused,
/// like every key inspection reads. Strings without escapes stay borrowed from the body.
#[derive(Default)]
pub(crate) struct Strings<'de>(Vec<Cow<'de, str>>);

impl<'de> FromJson<'de> for Strings<'de> {
    fn from_str(text: Cow<'de, str>) -> Self {
        Strings(vec![text])
    }
    fn from_seq<A: SeqAccess<'de>>(seq: A) -> Result<Self, A::Error> {
        let mut out = Vec::new();
        collect_seq(seq, &mut out)?;
        Ok(Strings(out))
    }
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        let mut out = Vec::new();
        collect_map(map, &mut out)?;
        Ok(Strings(out))
    }
}

/// What a string kept from a schema is charged (see [`MAX_READ_BYTES`]).
const STRING_COST: usize = std::mem::size_of::<Cow<'static, str>>();

/// Appends a JSON value's strings to one shared list (see [`Strings`]): nothing is
/// allocated per value, only per object whose keys are not already in order.
struct CollectStrings<'a, 'de>(&'a mut Vec<Cow<'de, str>>);

impl<'de> de::DeserializeSeed<'de> for CollectStrings<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CollectStrings<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        charge(STRING_COST)?;
        self.0.push(Cow::Borrowed(v));
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        charge(STRING_COST)?;
        self.0.push(Cow::Owned(v.to_owned()));
        Ok(())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        charge(STRING_COST)?;
        self.0.push(Cow::Owned(v));
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        collect_seq(seq, self.0)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        collect_map(map, self.0)
    }
}

fn collect_seq<'de, A: SeqAccess<'de>>(mut seq: A, out: &mut Vec<Cow<'de, str>>) -> Result<(), A::Error> {
    while seq.next_element_seed(CollectStrings(out))?.is_some() {}
    Ok(())
}

/// An object's entries, each key followed by its value's strings, reordered by key.
fn collect_map<'de, A: MapAccess<'de>>(mut map: A, out: &mut Vec<Cow<'de, str>>) -> Result<(), A::Error> {
    let start = out.len();
    // Each entry: where its key sits in `out`; its strings run to the next entry's key.
    let mut keys: Vec<usize> = Vec::new();
    while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
        charge(STRING_COST + std::mem::size_of::<usize>())?;
        keys.push(out.len());
        out.push(key);
        map.next_value_seed(CollectStrings(out))?;
    }
    let in_order = keys.windows(2).all(|pair| out[pair[0]] < out[pair[1]]);
    if in_order {
        return Ok(());
    }
    let end = out.len();
    let mut entries: Vec<(usize, usize)> =
        keys.iter().enumerate().map(|(i, &at)| (at, keys.get(i + 1).copied().unwrap_or(end))).collect();
    entries.sort_by(|a, b| out[a.0].cmp(&out[b.0]));
    if let Some(pair) = entries.windows(2).find(|pair| out[pair[0].0] == out[pair[1].0]) {
        return Err(duplicate(&out[pair[0].0]));
    }
    let mut taken: Vec<Option<Cow<'de, str>>> = out.drain(start..).map(Some).collect();
    for (from, to) in entries {
        out.extend((from..to).filter_map(|i| taken.get_mut(i - start).and_then(Option::take)));
    }
    Ok(())
}

/// A JSON value read into a `Value` exactly as `Value`'s own `Deserialize` reads it (last
/// duplicate key wins, floats through `Number::from_f64`), with every array element and
/// object entry charged against [`MAX_READ_BYTES`]: a `tool_use` input is kept whole.
struct CountedValue;

impl<'de> de::DeserializeSeed<'de> for CountedValue {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CountedValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(CountedValue)? {
            charge(std::mem::size_of::<Value>())?;
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            // The value, the key and a share of the map's tree nodes.
            charge(std::mem::size_of::<Value>() + std::mem::size_of::<String>() + 24)?;
            let value = map.next_value_seed(CountedValue)?;
            entries.insert(key, value);
        }
        Ok(Value::Object(entries))
    }
}

/// A content block (top-level, nested in a `tool_result`, inside a document source, or the
/// result object of a server tool): the union of the fields any block type's text lives in.
///
/// The fields few blocks carry are boxed: a block costs ~90 bytes instead of ~340, which
/// bounds what a body of tiny blocks costs (see [`MAX_READ_BYTES`]).
#[derive(Default)]
struct Block<'de> {
    kind: Option<Text<'de>>,
    text: Option<Text<'de>>,
    content: Option<TextOrBlocks<'de>>,
    rare: Option<Box<RareBlockFields<'de>>>,
}

#[derive(Default)]
struct RareBlockFields<'de> {
    thinking: Option<Text<'de>>,
    input: Option<Value>,
    source: Option<Source<'de>>,
    context: Option<Text<'de>>,
    /// A code execution result's output streams.
    stdout: Option<Text<'de>>,
    stderr: Option<Text<'de>>,
    /// A web search result's page title.
    title: Option<Text<'de>>,
}

impl<'de> Block<'de> {
    fn rare_mut(&mut self) -> &mut RareBlockFields<'de> {
        self.rare.get_or_insert_with(Box::default)
    }

    /// The boxed fields, empty when the block had none.
    fn into_rare(self) -> RareBlockFields<'de> {
        self.rare.map(|rare| *rare).unwrap_or_default()
    }
}

impl<'de> FromJson<'de> for Block<'de> {
    fn from_map<A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        let mut block = Block::default();
        read_object(map, |key, map| match key {
            "type" => read_once(map, &mut block.kind, key),
            "text" => read_once(map, &mut block.text, key),
            "content" => read_once(map, &mut block.content, key),
            "thinking" => read_once(map, &mut block.rare_mut().thinking, key),
            "source" => read_once(map, &mut block.rare_mut().source, key),
            "context" => read_once(map, &mut block.rare_mut().context, key),
            "stdout" => read_once(map, &mut block.rare_mut().stdout, key),
            "stderr" => read_once(map, &mut block.rare_mut().stderr, key),
            "title" => read_once(map, &mut block.rare_mut().title, key),
            // Any JSON value: it is scanned as compact JSON.
            "input" if block.rare.as_ref().is_some_and(|rare| rare.input.is_some()) => Err(duplicate(key)),
            "input" => {
                block.rare_mut().input = Some(map.next_value_seed(CountedValue)?);
                Ok(true)
            }
            _ => Ok(false),
        })?;
        Ok(block)
    }
}

/// A document's `source`.
#[derive(Default)]
struct Source<'de> {
    kind: Option<Text<'de>>,
    data: Option<Text<'de>>,
    content: Option<TextOrBlocks<'de>>,
}

read_fields!(Source { "type" => kind, "data" => data, "content" => content });

// Extraction: the walk over the typed tree.

impl<'de> Body<'de> {
    fn into_inspected(self) -> InspectedBody {
        let facts = self.facts();
        let mut segments = Vec::new();
        match self.system {
            Some(TextOrBlocks::Text(text)) => push(&mut segments, base(SourceKind::System, None, None), None, text),
            Some(TextOrBlocks::Blocks(blocks)) => {
                for (b, block) in blocks.into_iter().enumerate() {
                    if let Some(text) = block_text(block) {
                        push(&mut segments, base(SourceKind::System, None, None), Some(b), text);
                    }
                }
            }
            _ => {}
        }
        for (m, message) in self.messages.and_then(|l| l.0).unwrap_or_default().into_iter().enumerate() {
            let role = message.role.and_then(|r| r.0).map(Cow::into_owned);
            let text_kind = match role.as_deref() {
                Some("assistant") => SourceKind::AssistantText,
                Some("system") => SourceKind::System,
                _ => SourceKind::UserText,
            };
            match message.content {
                Some(TextOrBlocks::Text(text)) => {
                    push(&mut segments, base(text_kind, role.clone(), Some(m)), None, text)
                }
                Some(TextOrBlocks::Blocks(blocks)) => {
                    for (b, block) in blocks.into_iter().enumerate() {
                        extract_block(&mut segments, block, text_kind, &role, m, b);
                    }
                }
                _ => {}
            }
        }
        for (t, tool) in self.tools.and_then(|l| l.0).unwrap_or_default().iter().enumerate() {
            let text = tool.definition_text();
            push(&mut segments, base(SourceKind::ToolDefinition, None, None), Some(t), Cow::Owned(text));
        }
        InspectedBody { facts, segments }
    }

    fn facts(&self) -> RequestFacts {
        let system_nonempty = match &self.system {
            Some(TextOrBlocks::Text(text)) => !text.is_empty(),
            Some(TextOrBlocks::Blocks(blocks)) => !blocks.is_empty(),
            _ => false,
        };
        let messages = self.messages.as_ref().and_then(|l| l.0.as_deref()).unwrap_or_default();
        let system_message = messages.iter().any(|m| Text::as_str(&m.role) == Some("system"));
        let tools = self.tools.as_ref().and_then(|l| l.0.as_deref());
        RequestFacts {
            model: Text::as_str(&self.model).map(str::to_owned),
            max_tokens: self.max_tokens.as_ref().and_then(|c| c.0),
            stream: self.stream.as_ref().and_then(|f| f.0).unwrap_or(false),
            has_system_prompt: system_nonempty || system_message,
            tool_names: tools
                .map(|ts| ts.iter().filter_map(|t| Text::as_str(&t.name).map(str::to_owned)).collect())
                .unwrap_or_default(),
            tool_count: tools.map_or(0, <[Tool<'_>]>::len),
        }
    }
}

fn extract_block(
    out: &mut Vec<Segment>,
    block: Block<'_>,
    text_kind: SourceKind,
    role: &Option<String>,
    m: usize,
    b: usize,
) {
    let at = |kind| base(kind, role.clone(), Some(m));
    match Text::as_str(&block.kind) {
        Some("text") => {
            if let Some(text) = block.text.and_then(|t| t.0) {
                push(out, at(text_kind), Some(b), text);
            }
        }
        Some("thinking") => {
            if let Some(text) = block.into_rare().thinking.and_then(|t| t.0) {
                push(out, at(text_kind), Some(b), text);
            }
        }
        // An MCP connector's tool result has a tool_result's shape.
        Some("tool_result" | "mcp_tool_result") => match block.content {
            Some(TextOrBlocks::Text(text)) => push(out, at(SourceKind::ToolResult), Some(b), text),
            Some(TextOrBlocks::Blocks(nested)) => push_tool_result_blocks(out, nested, &at, b),
            _ => {}
        },
        Some("tool_use" | "server_tool_use" | "mcp_tool_use") => {
            if let Some(input) = block.rare.as_ref().and_then(|rare| rare.input.as_ref()) {
                // Compact JSON with sorted keys, as `serde_json::to_string(&Value)` writes it.
                let text = serde_json::to_string(input).unwrap_or_default();
                push(out, at(SourceKind::ToolUseInput), Some(b), Cow::Owned(text));
            }
        }
        Some("document" | "search_result") => {
            for (n, text) in nested_texts(block).into_iter().enumerate() {
                push_nested(out, at(SourceKind::Document), b, n, text);
            }
        }
        // Results of Anthropic's server tools, resent in later turns: what they fetched or
        // printed reaches the model again (a fetched page is indirect injection's classic
        // carrier). Their `content` is one object, or a list for web search.
        Some("web_fetch_tool_result") => {
            if let Some(TextOrBlocks::Object(result)) = block.content
                && let Some(TextOrBlocks::Object(document)) = result.content
            {
                for (n, text) in nested_texts(*document).into_iter().enumerate() {
                    push_nested(out, at(SourceKind::Document), b, n, text);
                }
            }
        }
        Some("code_execution_tool_result" | "bash_code_execution_tool_result") => {
            if let Some(TextOrBlocks::Object(result)) = block.content {
                let rare = result.into_rare();
                let streams = [rare.stdout, rare.stderr];
                for (n, text) in streams.into_iter().enumerate() {
                    if let Some(text) = text.and_then(|t| t.0) {
                        push_nested(out, at(SourceKind::ToolResult), b, n, text);
                    }
                }
            }
        }
        Some("text_editor_code_execution_tool_result") => {
            if let Some(TextOrBlocks::Object(result)) = block.content
                && let Some(TextOrBlocks::Text(text)) = result.content
            {
                push_nested(out, at(SourceKind::ToolResult), b, 0, text);
            }
        }
        Some("web_search_tool_result") => {
            if let Some(TextOrBlocks::Blocks(results)) = block.content {
                for (n, result) in results.into_iter().enumerate() {
                    if let Some(title) = result.into_rare().title.and_then(|t| t.0) {
                        push_nested(out, at(SourceKind::ToolResult), b, n, title);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Texts inside a document / search_result / text block nested in a tool_result.
fn nested_texts(block: Block<'_>) -> Vec<Cow<'_, str>> {
    let mut texts = Vec::new();
    match Text::as_str(&block.kind) {
        Some("text") => texts.extend(block.text.and_then(|t| t.0)),
        Some("document") => {
            let rare = block.into_rare();
            if let Some(source) = rare.source {
                match Text::as_str(&source.kind) {
                    Some("text") => texts.extend(source.data.and_then(|t| t.0)),
                    Some("content") => match source.content {
                        Some(TextOrBlocks::Text(text)) => texts.push(text),
                        Some(TextOrBlocks::Blocks(items)) => texts.extend(items.into_iter().filter_map(block_text)),
                        _ => {}
                    },
                    _ => {}
                }
            }
            texts.extend(rare.context.and_then(|t| t.0));
        }
        Some("search_result") => {
            if let Some(TextOrBlocks::Blocks(items)) = block.content {
                texts.extend(items.into_iter().filter_map(block_text));
            }
        }
        _ => {}
    }
    texts
}

/// The content blocks of a tool's result, as block `b`'s nested blocks: text as tool
/// results, documents and search results as documents.
fn push_tool_result_blocks(
    out: &mut Vec<Segment>,
    blocks: Vec<Block<'_>>,
    at: &dyn Fn(SourceKind) -> SegmentRef,
    b: usize,
) {
    for (n, inner) in blocks.into_iter().enumerate() {
        let kind = match Text::as_str(&inner.kind) {
            Some("document" | "search_result") => SourceKind::Document,
            _ => SourceKind::ToolResult,
        };
        for text in nested_texts(inner) {
            push_nested(out, at(kind), b, n, text);
        }
    }
}

fn block_text(block: Block<'_>) -> Option<Cow<'_, str>> {
    match Text::as_str(&block.kind) {
        Some("text") | None => block.text.and_then(|t| t.0),
        _ => None,
    }
}

/// Each segment's kind, role, message index and text: what the readers' tests compare.
#[cfg(test)]
fn segment_summary(inspected: &InspectedBody) -> Vec<(SourceKind, Option<&str>, Option<usize>, &str)> {
    inspected
        .segments
        .iter()
        .map(|s| (s.origin.source, s.origin.role.as_deref(), s.origin.message_index, s.text.as_str()))
        .collect()
}

fn base(source: SourceKind, role: Option<String>, message_index: Option<usize>) -> SegmentRef {
    SegmentRef { source, role, message_index, block_index: None, nested_index: None, request_index: None }
}

fn push(out: &mut Vec<Segment>, mut origin: SegmentRef, block: Option<usize>, text: Cow<'_, str>) {
    if text.is_empty() {
        return;
    }
    origin.block_index = block;
    out.push(Segment { origin, text: text.into_owned() });
}

fn push_nested(out: &mut Vec<Segment>, mut origin: SegmentRef, b: usize, n: usize, text: Cow<'_, str>) {
    if text.is_empty() {
        return;
    }
    origin.block_index = Some(b);
    origin.nested_index = Some(n);
    out.push(Segment { origin, text: text.into_owned() });
}
