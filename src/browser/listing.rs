//! Reading many records of an index in one order, as fast as the browser allows.

use js_sys::{Array, Function, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{IdbCursorDirection, IdbCursorWithValue, IdbIndex, IdbKeyRange};

use super::error::{Error, Result};
use super::idb;
use super::store::Order;

/// The values of `index` within `range`, in `order`, at most `count` of them.
///
/// Oldest-first is one `getAll`. Newest-first uses `getAll` with a `direction` where the browser
/// has it (IndexedDB 3, present with `getAllRecords`), which is one request instead of one per
/// record; elsewhere it walks a reverse cursor.
pub async fn get_all(
    index: &IdbIndex,
    range: Option<&IdbKeyRange>,
    count: Option<u32>,
    order: Order,
    context: &str,
) -> Result<Array> {
    let query: JsValue = range
        .map(|r| r.clone().into())
        .unwrap_or(JsValue::UNDEFINED);
    let values = match order {
        Order::OldestFirst => {
            let req = match count {
                Some(n) => index.get_all_with_key_and_limit(&query, n),
                None => index.get_all_with_key(&query),
            };
            idb::call(req, context).await?
        }
        Order::NewestFirst if has_directional_get_all(index) => {
            let options = Object::new();
            let _ = Reflect::set(&options, &"query".into(), &query);
            let _ = Reflect::set(&options, &"direction".into(), &"prev".into());
            if let Some(n) = count {
                let _ = Reflect::set(&options, &"count".into(), &n.into());
            }
            let get_all: Function = Reflect::get(index, &"getAll".into())?.unchecked_into();
            let req = get_all
                .call1(index, &options)
                .map(|r| r.unchecked_into::<web_sys::IdbRequest>());
            idb::call(req, context).await?
        }
        Order::NewestFirst => return reverse_cursor(index, &query, count, context).await,
    };
    values
        .dyn_into::<Array>()
        .map_err(|v| Error::from_js(context, &v))
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
