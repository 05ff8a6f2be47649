//! Reading many records of an index in one order, as fast as the browser allows.

use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbCursorDirection, IdbCursorWithValue, IdbIndex, IdbKeyRange};

use super::error::{Error, Result};
use super::idb;
use super::store::Order;

/// At most this many records per request: the browser decodes a request's records in one task, so
/// a listing of tens of thousands of records, read whole, blocked the page for seconds (a long
/// task); read in pages, each page is a task of its own.
const PAGE: u32 = 1000;

/// The values of `index` within `range`, in `order`, at most `count` of them.
///
/// Oldest-first is `getAll`. Newest-first uses `getAll` with a `direction` where the browser
/// has it (IndexedDB 3, present with `getAllRecords`), which is one request instead of one per
/// record; elsewhere it walks a reverse cursor. Either `getAll` reads at most [`PAGE`] records per
/// request, in the caller's transaction, each page continuing after the last one's key.
pub async fn get_all(
    index: &IdbIndex,
    range: Option<&IdbKeyRange>,
    count: Option<u32>,
    order: Order,
    context: &str,
) -> Result<Array> {
    if order == Order::NewestFirst && !has_directional_get_all(index) {
        let query: JsValue = range
            .map(|r| r.clone().into())
            .unwrap_or(JsValue::UNDEFINED);
        return idb::cold(reverse_cursor(index, &query, count, context)).await;
    }
    let out = Array::new();
    if count == Some(0) {
        // `getAll` with a count of 0 would read everything.
        return Ok(out);
    }
    let mut range = range.cloned();
    loop {
        let page = count.map_or(PAGE, |n| (n - out.length()).min(PAGE));
        let got = get_page(index, range.as_ref(), page, order, context).await?;
        let n = got.length();
        for v in got.iter() {
            out.push(&v);
        }
        if n < page || count.is_some_and(|c| out.length() >= c) {
            return Ok(out);
        }
        let last = got.get(n - 1);
        range = Some(
            after(index, range.as_ref(), &last, order).map_err(|e| Error::from_js(context, &e))?,
        );
    }
}

/// One `getAll` of at most `count` records.
async fn get_page(
    index: &IdbIndex,
    range: Option<&IdbKeyRange>,
    count: u32,
    order: Order,
    context: &str,
) -> Result<Array> {
    let query: JsValue = range
        .map(|r| r.clone().into())
        .unwrap_or(JsValue::UNDEFINED);
    let values = match order {
        Order::OldestFirst => {
            idb::call(index.get_all_with_key_and_limit(&query, count), context).await?
        }
        Order::NewestFirst => {
            let options = Object::new();
            let _ = Reflect::set(&options, &"query".into(), &query);
            let _ = Reflect::set(&options, &"direction".into(), &"prev".into());
            let _ = Reflect::set(&options, &"count".into(), &count.into());
            let get_all: Function = Reflect::get(index, &"getAll".into())?.unchecked_into();
            let req = get_all
                .call1(index, &options)
                .map(|r| r.unchecked_into::<web_sys::IdbRequest>());
            idb::call(req, context).await?
        }
    };
    values
        .dyn_into::<Array>()
        .map_err(|v| Error::from_js(context, &v))
}

/// `range` narrowed to the keys after `last`'s (in `order`): `last`'s index key is read from the
/// record through the index's key path (`[createdAt, id]`, `[syncState, createdAt, id]`).
fn after(
    index: &IdbIndex,
    range: Option<&IdbKeyRange>,
    last: &JsValue,
    order: Order,
) -> std::result::Result<IdbKeyRange, JsValue> {
    let path: Array = index.key_path()?.dyn_into()?;
    let key: JsValue = path
        .iter()
        .map(|field| Reflect::get(last, &field))
        .collect::<std::result::Result<Array, _>>()?
        .into();
    let bound =
        |r: &IdbKeyRange, upper: bool| -> std::result::Result<Option<(JsValue, bool)>, JsValue> {
            let (value, open) = if upper {
                (r.upper()?, r.upper_open())
            } else {
                (r.lower()?, r.lower_open())
            };
            Ok((!value.is_undefined()).then_some((value, open)))
        };
    match order {
        Order::OldestFirst => match range.map(|r| bound(r, true)).transpose()?.flatten() {
            Some((upper, open)) => {
                IdbKeyRange::bound_with_lower_open_and_upper_open(&key, &upper, true, open)
            }
            None => IdbKeyRange::lower_bound_with_open(&key, true),
        },
        Order::NewestFirst => match range.map(|r| bound(r, false)).transpose()?.flatten() {
            Some((lower, open)) => {
                IdbKeyRange::bound_with_lower_open_and_upper_open(&lower, &key, open, true)
            }
            None => IdbKeyRange::upper_bound_with_open(&key, true),
        },
    }
}

/// IndexedDB 3's `getAll({ query, count, direction })` came with `getAllRecords` (Chrome 141; not
/// in Firefox or Safari yet): its presence is the only test, since an older `getAll` takes the
/// options object for a key and throws `DataError`.
fn has_directional_get_all(index: &IdbIndex) -> bool {
    Reflect::get(index, &"getAllRecords".into())
        .map(|f| f.is_function())
        .unwrap_or(false)
}

async fn reverse_cursor(
    index: &IdbIndex,
    query: &JsValue,
    count: Option<u32>,
    context: &str,
) -> Result<Array> {
    let out = Array::new();
    let req = index
        .open_cursor_with_range_and_direction(query, IdbCursorDirection::Prev)
        .map_err(|e| Error::from_js(context, &e))?;
    loop {
        let cursor = idb::request(&req, context).await?;
        let Some(cursor) = idb::some(cursor) else {
            break;
        };
        let cursor: IdbCursorWithValue = idb::cast(cursor, "cursor")?;
        out.push(&cursor.value()?);
        if count.is_some_and(|n| out.length() >= n) {
            break;
        }
        cursor
            .continue_()
            .map_err(|e| Error::from_js(context, &e))?;
    }
    Ok(out)
}
