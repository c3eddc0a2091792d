//! SQL values and rows, shared by the local and the remote engine.

use std::sync::Arc;

use crate::error::DbError;

/// One SQLite value. The five storage classes SQLite and Hrana both know.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit signed integer.
    Integer(i64),
    /// A 64-bit float.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Raw bytes.
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Integer(v.into())
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Integer(v.into())
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Integer(v.into())
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_owned())
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Conversion from a [`Value`] read out of a row.
pub trait FromValue: Sized {
    /// Converts, or names the SQL type that did not fit.
    fn from_value(value: &Value) -> Result<Self, &'static str>;
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "NULL",
        Value::Integer(_) => "INTEGER",
        Value::Real(_) => "REAL",
        Value::Text(_) => "TEXT",
        Value::Blob(_) => "BLOB",
    }
}

impl FromValue for Value {
    fn from_value(value: &Value) -> Result<Self, &'static str> {
        Ok(value.clone())
    }
}
impl FromValue for i64 {
    fn from_value(value: &Value) -> Result<Self, &'static str> {
        match value {
            Value::Integer(v) => Ok(*v),
            other => Err(type_name(other)),
        }
    }
}
impl FromValue for u64 {
    fn from_value(value: &Value) -> Result<Self, &'static str> {
        match value {
            Value::Integer(v) => u64::try_from(*v).map_err(|_| "negative INTEGER"),
            other => Err(type_name(other)),
        }
    }
}
impl FromValue for u32 {
    fn from_value(value: &Value) -> Result<Self, &'static str> {
        match value {
            Value::Integer(v) => u32::try_from(*v).map_err(|_| "out-of-range INTEGER"),
            other => Err(type_name(other)),
        }
    }
}
impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self, &'static str> {
        match value {
            Value::Integer(v) => Ok(*v != 0),
            other => Err(type_name(other)),
        }
    }
}
impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self, &'static str> {
        match value {
            Value::Real(v) => Ok(*v),
            // SQLite stores whole REALs as INTEGER on disk; read them back as floats.
            Value::Integer(v) => Ok(*v as f64),
            other => Err(type_name(other)),
        }
    }
}
impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self, &'static str> {
        match value {
            Value::Text(v) => Ok(v.clone()),
            other => Err(type_name(other)),
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(value: &Value) -> Result<Self, &'static str> {
        match value {
            Value::Blob(v) => Ok(v.clone()),
            other => Err(type_name(other)),
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self, &'static str> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// One statement with its positional parameters (`?1`, `?2`, … or `?`).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The SQL text: exactly one statement.
    pub sql: String,
    /// Positional parameters.
    pub params: Vec<Value>,
}

impl Statement {
    /// A statement with parameters.
    pub fn new(sql: impl Into<String>, params: Vec<Value>) -> Self {
        Self {
            sql: sql.into(),
            params,
        }
    }

    /// A statement without parameters.
    pub fn plain(sql: impl Into<String>) -> Self {
        Self::new(sql, Vec::new())
    }
}

/// Builds a `Vec<Value>` from anything convertible: `params![name, 3, None::<String>]`.
#[macro_export]
macro_rules! params {
    () => { ::std::vec::Vec::<$crate::Value>::new() };
    ($($v:expr),+ $(,)?) => { ::std::vec![$($crate::Value::from($v)),+] };
}

/// A row of a result set.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Arc<[String]>,
    values: Vec<Value>,
}

impl Row {
    pub(crate) fn new(columns: Arc<[String]>, values: Vec<Value>) -> Self {
        Self { columns, values }
    }

    /// The value of column `idx` converted to `T`.
    pub fn get<T: FromValue>(&self, idx: usize) -> Result<T, DbError> {
        let value = self.values.get(idx).ok_or_else(|| DbError::Column {
            column: idx.to_string(),
            detail: format!("the row has {} columns", self.values.len()),
        })?;
        T::from_value(value).map_err(|found| DbError::Column {
            column: self
                .columns
                .get(idx)
                .cloned()
                .unwrap_or_else(|| idx.to_string()),
            detail: format!("cannot read {found} as {}", std::any::type_name::<T>()),
        })
    }

    /// The value of the column named `name` converted to `T`.
    pub fn get_named<T: FromValue>(&self, name: &str) -> Result<T, DbError> {
        let idx = self
            .columns
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| DbError::Column {
                column: name.to_owned(),
                detail: "no such column in the result".to_owned(),
            })?;
        self.get(idx)
    }

    /// The raw values, in column order.
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// Column names of the result this row came from.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }
}

/// The outcome of one statement: its rows (if any) and its effect.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResultSet {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// The rows the statement returned.
    pub rows: Vec<Row>,
    /// Rows inserted, updated or deleted.
    pub rows_affected: u64,
    /// The rowid of the last insert, when the statement inserted.
    pub last_insert_rowid: Option<i64>,
}

impl ResultSet {
    /// The first row, if any.
    pub fn first(&self) -> Option<&Row> {
        self.rows.first()
    }
}
