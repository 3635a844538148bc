//! The order of a view: `priority desc, submitted_at asc`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One sort key of a view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderKey {
    pub field: OrderField,
    pub direction: Direction,
}

/// The interaction fields a view may sort on: those the engine keeps in its
/// per-view indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderField {
    Priority,
    SubmittedAt,
    PlacedInQueueAt,
    Id,
}

impl OrderField {
    pub const ALL: [OrderField; 4] = [
        OrderField::Priority,
        OrderField::SubmittedAt,
        OrderField::PlacedInQueueAt,
        OrderField::Id,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderField::Priority => "priority",
            OrderField::SubmittedAt => "submitted_at",
            OrderField::PlacedInQueueAt => "placed_in_queue_at",
            OrderField::Id => "id",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Asc,
    Desc,
}

/// The order used when a view does not name one: most urgent first, then
/// oldest first.
pub fn default_order() -> Vec<OrderKey> {
    vec![
        OrderKey {
            field: OrderField::Priority,
            direction: Direction::Desc,
        },
        OrderKey {
            field: OrderField::SubmittedAt,
            direction: Direction::Asc,
        },
    ]
}

/// A rejected order, with the byte offset in the source text of the part at
/// fault so that the loader can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderError {
    pub offset: usize,
    pub reason: String,
}

/// Parses `field [asc|desc], …`. The direction is case-insensitive and
/// defaults to `asc`; a field may appear only once.
pub fn parse_order(text: &str) -> Result<Vec<OrderKey>, OrderError> {
    let mut keys: Vec<OrderKey> = Vec::new();
    let mut start = 0;
    for item in text.split(',') {
        let item_offset = start + (item.len() - item.trim_start().len());
        start += item.len() + 1;
        let mut words = item.split_whitespace();
        let Some(field_name) = words.next() else {
            return Err(OrderError {
                offset: item_offset,
                reason: if text.trim().is_empty() {
                    "order is empty".to_owned()
                } else {
                    "empty order item (stray comma?)".to_owned()
                },
            });
        };
        let Some(field) = OrderField::ALL
            .into_iter()
            .find(|f| f.as_str() == field_name)
        else {
            let allowed: Vec<&str> = OrderField::ALL.iter().map(|f| f.as_str()).collect();
            return Err(OrderError {
                offset: item_offset,
                reason: format!(
                    "unknown order field '{field_name}' (allowed: {})",
                    allowed.join(", ")
                ),
            });
        };
        let direction = match words.next() {
            None => Direction::Asc,
            Some(word) if word.eq_ignore_ascii_case("asc") => Direction::Asc,
            Some(word) if word.eq_ignore_ascii_case("desc") => Direction::Desc,
            Some(word) => {
                return Err(OrderError {
                    offset: offset_of(text, word),
                    reason: format!("unknown order direction '{word}' (allowed: asc, desc)"),
                });
            }
        };
        if let Some(extra) = words.next() {
            return Err(OrderError {
                offset: offset_of(text, extra),
                reason: format!("unexpected '{extra}' after order field '{field_name}'"),
            });
        }
        if keys.iter().any(|k| k.field == field) {
            return Err(OrderError {
                offset: item_offset,
                reason: format!("order field '{field_name}' appears twice"),
            });
        }
        keys.push(OrderKey { field, direction });
    }
    Ok(keys)
}

/// Byte offset of `part`, a sub-slice of `text`.
fn offset_of(text: &str, part: &str) -> usize {
    part.as_ptr() as usize - text.as_ptr() as usize
}

impl fmt::Display for OrderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let direction = match self.direction {
            Direction::Asc => "asc",
            Direction::Desc => "desc",
        };
        write!(f, "{} {direction}", self.field.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_directions() {
        let keys = parse_order("priority desc, submitted_at asc").unwrap();
        assert_eq!(keys, default_order());
        let keys = parse_order("placed_in_queue_at,id DESC").unwrap();
        assert_eq!(
            keys,
            vec![
                OrderKey {
                    field: OrderField::PlacedInQueueAt,
                    direction: Direction::Asc
                },
                OrderKey {
                    field: OrderField::Id,
                    direction: Direction::Desc
                },
            ]
        );
    }

    #[test]
    fn points_at_the_part_at_fault() {
        let err = parse_order("priority desc, prio asc").unwrap_err();
        assert_eq!(err.offset, 15);
        assert!(err.reason.starts_with("unknown order field 'prio'"));

        let err = parse_order("priority downward").unwrap_err();
        assert_eq!(err.offset, 9);
        assert!(err.reason.contains("direction 'downward'"));

        let err = parse_order("priority desc now").unwrap_err();
        assert_eq!(err.offset, 14);

        let err = parse_order("priority, id, priority desc").unwrap_err();
        assert_eq!(err.offset, 14);
        assert!(err.reason.contains("twice"));

        assert_eq!(parse_order("id,").unwrap_err().offset, 3);
        assert_eq!(parse_order("  ").unwrap_err().reason, "order is empty");
    }

    #[test]
    fn displays_each_key() {
        let shown: Vec<String> = default_order().iter().map(|k| k.to_string()).collect();
        assert_eq!(shown.join(", "), "priority desc, submitted_at asc");
    }
}
