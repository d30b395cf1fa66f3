//! The stack's table as tests and the chaos run read it: every item, the items of one entity,
//! and an item's bytes to search for what must never be stored in the clear.

use std::collections::HashMap;

use anyhow::Context;
use aws_sdk_dynamodb::types::AttributeValue;

use crate::LocalStack;

/// One item of the table, as DynamoDB returns it.
pub type Item = HashMap<String, AttributeValue>;

impl LocalStack {
    /// Every item in the stack's table.
    pub async fn scan_table(&self) -> anyhow::Result<Vec<Item>> {
        let client = aws_sdk_dynamodb::Client::new(&self.sdk);
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = client
                .scan()
                .table_name(&self.config.table_name)
                .set_exclusive_start_key(start)
                .send()
                .await
                .context("scanning the table")?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// The items of one entity type (`connection`, `member`, `post`, `oauth_state`, …).
    pub async fn entities(&self, entity: &str) -> anyhow::Result<Vec<Item>> {
        Ok(self
            .scan_table()
            .await?
            .into_iter()
            .filter(|i| {
                i.get("entity")
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                    == Some(entity)
            })
            .collect())
    }
}

/// Every name, string and binary value in an item, as bytes, for searching.
pub fn item_bytes(item: &Item) -> Vec<u8> {
    fn walk(v: &AttributeValue, out: &mut Vec<u8>) {
        match v {
            AttributeValue::S(s) | AttributeValue::N(s) => out.extend_from_slice(s.as_bytes()),
            AttributeValue::B(b) => out.extend_from_slice(b.as_ref()),
            AttributeValue::L(l) => l.iter().for_each(|v| walk(v, out)),
            AttributeValue::M(m) => m.iter().for_each(|(k, v)| {
                out.extend_from_slice(k.as_bytes());
                walk(v, out)
            }),
            AttributeValue::Ss(l) => l.iter().for_each(|s| out.extend_from_slice(s.as_bytes())),
            _ => {}
        }
        out.push(b'\n');
    }
    let mut out = Vec::new();
    for (k, v) in item {
        out.extend_from_slice(k.as_bytes());
        walk(v, &mut out);
    }
    out
}

/// Whether `needle` appears in `haystack` (an item's bytes, a log, a page); never for "".
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
}
